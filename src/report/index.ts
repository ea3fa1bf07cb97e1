/** Reports: the profile as aligned text and as a self-contained HTML page. */
export { profileText } from './profile-text.js';
export { profileHtml } from './profile-html.js';
export { quantizeText } from './quantize-text.js';
export { quantizeHtml } from './quantize-html.js';
export { si, bytes, ms, pct, table } from './format.js';
