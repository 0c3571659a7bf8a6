#!/usr/bin/env node
// `npm run lint`'s documentation half: every relative link and `#anchor` in README.md, docs/*.md and
// bench/README.md resolves. A link to a file needs the file (or directory); a link with an anchor
// into a Markdown file needs a heading whose GitHub slug is that anchor (or an `id`/`name`
// attribute); links with a scheme (https:, mailto:) are not followed. Fenced code and inline code
// are not read as links. Exit code 1 with one line per broken link.
//
//   node scripts/check-doc-links.mjs [file.md ...]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");

/** The Markdown files checked by default, relative to the repository root. */
function defaultFiles() {
  const docs = readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs, "bench/README.md"];
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text) {
  const out = [];
  let fence = null;
  text.split("\n").forEach((line, i) => {
    const opening = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (opening && opening[1][0] === fence[0] && opening[1].length >= fence.length) fence = null;
      return;
    }
    if (opening) {
      fence = opening[1];
      return;
    }
    out.push({ line, number: i + 1 });
  });
  return out;
}

/** GitHub's heading anchor (github-slugger): rendered text, lower case, punctuation dropped, spaces to `-`. */
export function githubSlug(heading) {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/[`*]/g, "")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Every anchor a Markdown file offers: heading slugs (repeats get -1, -2, ...) and id/name attributes. */
export function anchorsOf(text) {
  const anchors = new Set();
  const seen = new Map();
  for (const { line } of proseLines(text)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const slug = githubSlug(heading[1]);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const attribute of line.matchAll(/\b(?:id|name)="([^"]+)"/g)) anchors.add(attribute[1]);
  }
  return anchors;
}

/** Every link target in a Markdown file's prose: inline links and images (their text may wrap lines) and reference definitions. */
export function linksOf(text) {
  const lines = text.split("\n").map(() => "");
  for (const { line, number } of proseLines(text)) lines[number - 1] = line;
  const prose = lines.join("\n").replace(/(`+)(?:(?!\1|\n\s*\n)[\s\S])+?\1/g, (code) => code.replace(/[^\n]/g, " "));
  const lineOf = (index) => prose.slice(0, index).split("\n").length;
  const links = [];
  for (const m of prose.matchAll(/!?\[(?:[^\][]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
    links.push({ target: m[1], line: lineOf(m.index) });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+"[^"\n]*")?[ \t]*$/gm)) {
    links.push({ target: m[1], line: lineOf(m.index) });
  }
  return links;
}

const anchorCache = new Map();
function anchorsOfFile(file) {
  if (!anchorCache.has(file)) anchorCache.set(file, anchorsOf(readFileSync(file, "utf8")));
  return anchorCache.get(file);
}

/** Why a link from `file` to `target` does not resolve, or null when it does. */
export function brokenLink(file, target) {
  if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) return null;
  const hash = target.indexOf("#");
  const pathPart = hash === -1 ? target : target.slice(0, hash);
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const destination = pathPart === "" ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
  if (!existsSync(destination)) return `no such file: ${path.relative(ROOT, destination)}`;
  if (anchor === null || !destination.endsWith(".md")) return null;
  return anchorsOfFile(destination).has(anchor) ? null : `no heading for #${anchor} in ${path.relative(ROOT, destination)}`;
}

function main() {
  const files = process.argv.length > 2 ? process.argv.slice(2) : defaultFiles();
  const problems = [];
  let checked = 0;
  for (const name of files) {
    const file = path.resolve(ROOT, name);
    for (const { target, line } of linksOf(readFileSync(file, "utf8"))) {
      checked++;
      const why = brokenLink(file, target);
      if (why) problems.push(`${path.relative(ROOT, file)}:${line}: (${target}) ${why}`);
    }
  }
  for (const problem of problems) console.error(problem);
  if (problems.length > 0) {
    console.error(`${problems.length} broken documentation link(s) of ${checked}`);
    process.exit(1);
  }
  console.log(`documentation links: ${checked} links in ${files.length} files resolve`);
}

if (import.meta.filename === path.resolve(process.argv[1] ?? "")) main();
