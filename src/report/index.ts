/** Reports: profile, quantize, optimize and tuning-study results as aligned text and as self-contained HTML pages. */
export { profileText } from './profile-text.js';
export { profileHtml } from './profile-html.js';
export { quantizeText } from './quantize-text.js';
export { quantizeHtml } from './quantize-html.js';
export { optimizeHtml, paretoFront } from './optimize-html.js';
export { studyHtml, historyChart, importanceChart, paretoChart, learningCurveChart } from './study-html.js';
export { si, bytes, ms, pct, table } from './format.js';
