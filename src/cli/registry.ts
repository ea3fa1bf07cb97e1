import type { Command } from './command.js';
import { profileCommand } from './commands/profile.js';
import { studyCommand } from './commands/study.js';
import { dashboardCommand } from './commands/dashboard.js';
import { tuneCommand, tuneWorkerCommand } from './commands/tune.js';
import { trainCommand } from './commands/train.js';
import { trainWorkerCommand } from './commands/train-dp.js';
import { lrFindCommand } from './commands/lr-find.js';
import { quantizeCommand } from './commands/quantize.js';
import { pruneCommand } from './commands/prune.js';
import { distillCommand } from './commands/distill.js';
import { optimizeCommand } from './commands/optimize.js';
import { nasCommand } from './commands/nas.js';
import { zooCommand } from './commands/zoo.js';
import { demoCommand } from './commands/demo.js';
import { dataCommand } from './commands/data.js';

/** Every `hone` command, in the order `hone --help` lists them. */
export const commands: Command[] = [
  demoCommand,
  profileCommand,
  tuneCommand,
  tuneWorkerCommand,
  studyCommand,
  dashboardCommand,
  trainCommand,
  trainWorkerCommand,
  lrFindCommand,
  quantizeCommand,
  pruneCommand,
  distillCommand,
  optimizeCommand,
  nasCommand,
  dataCommand,
  zooCommand,
];
