import type { Command } from './command.js';
import { profileCommand } from './commands/profile.js';

/** Every `hone` command, in the order `hone --help` lists them. */
export const commands: Command[] = [profileCommand];
