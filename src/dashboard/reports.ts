/**
 * A stored report (the JSON a command printed or wrote) as the page that command's `--html` writes, so the
 * dashboard shows a report exactly as the static page does. optimize's report.json is drawn with the
 * candidates.json beside it when it is there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Candidate, OptimizeReport } from '../optimize/types.js';
import type { ProfileReport } from '../profile/types.js';
import type { QuantizeSummary } from '../quantize/pipeline.js';
import { esc, htmlPage } from '../report/html.js';
import { lrFindHtml } from '../report/lr-find-html.js';
import { optimizeHtml } from '../report/optimize-html.js';
import { profileHtml } from '../report/profile-html.js';
import { quantizeHtml } from '../report/quantize-html.js';
import { studyHtml } from '../report/study-html.js';
import type { LrFindResult } from '../train/lr-find.js';
import type { StudyReport } from '../tune/report.js';
import type { ReportKind } from './logs.js';

export function reportPage(kind: ReportKind, doc: unknown, where: { path: string; dir: string }): string {
  try {
    switch (kind) {
      case 'profile':
        return profileHtml(doc as ProfileReport);
      case 'quantize': {
        const s = doc as QuantizeSummary & { output?: string };
        return quantizeHtml(s, s.output ?? '(not recorded)');
      }
      case 'optimize': {
        const beside = join(where.dir, dirname(where.path), 'candidates.json');
        const candidates = existsSync(beside) ? (JSON.parse(readFileSync(beside, 'utf8')) as Candidate[]) : [];
        return optimizeHtml(doc as OptimizeReport, Array.isArray(candidates) ? candidates : []);
      }
      case 'lr-find':
        return lrFindHtml(doc as LrFindResult, { source: where.path });
      case 'study':
        return studyHtml(doc as StudyReport, { where: where.path });
      case 'nas':
        // The search's study page: its Pareto front is accuracy against latency, every architecture in the table.
        return studyHtml((doc as { study: StudyReport }).study, { where: where.path });
    }
  } catch (e) {
    // A report from another version of Hone may lack a field its page draws: say so instead of a blank frame.
    return htmlPage({
      title: `hone: ${where.path}`,
      body: `<h1>${esc(where.path)}</h1><p>This ${esc(kind)} report could not be drawn: ${esc((e as Error).message)}.</p><p>Write it again with the current version of Hone.</p>`,
      footer: 'hone dashboard',
    });
  }
}
