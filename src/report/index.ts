/** Reports: profile, quantize, lr-find, optimize and tuning-study results as aligned text and as self-contained HTML pages. */
export { profileText } from './profile-text.js';
export { profileHtml } from './profile-html.js';
export { quantizeText } from './quantize-text.js';
export { quantizeHtml } from './quantize-html.js';
export { lrFindHtml, type LrFindReport, type LrFindRun } from './lr-find-html.js';
export { optimizeHtml, paretoFront } from './optimize-html.js';
export { studyHtml } from './study-html.js';
export {
  studyCharts,
  historyChart,
  importanceChart,
  paretoChart,
  intermediateChart,
  parallelChart,
  contourChart,
  sliceChart,
  trainCharts,
} from './charts.js';
export { si, bytes, ms, pct, table } from './format.js';
