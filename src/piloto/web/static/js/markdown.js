// Markdown for messages: markdown-it with raw HTML off, then DOMPurify on its output.
// Tool output and model text are untrusted: nothing in them may run or load.
import MarkdownIt from "../vendor/markdown-it.min.js";
import DOMPurify from "../vendor/purify.es.js";

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });

// Only http(s) and mailto links survive (markdown-it already refuses javascript:, DOMPurify too).
const SAFE_URL = /^(?:https?:|mailto:)/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_URL.test(href)) {
      node.removeAttribute("href");
    } else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  }
  if (node.tagName === "IMG") node.remove();
});

const PURIFY = {
  ALLOWED_TAGS: [
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "target", "rel", "start", "align"],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** A sanitised DocumentFragment for a Markdown string. */
export function renderMarkdown(text) {
  const html = md.render(String(text ?? ""));
  return DOMPurify.sanitize(html, PURIFY);
}

/** A sanitised fragment for one line of inline Markdown (summaries, titles). */
export function renderInline(text) {
  return DOMPurify.sanitize(md.renderInline(String(text ?? "")), PURIFY);
}
