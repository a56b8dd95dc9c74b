// Find over the whole sheet, without the DOM: the url of a page of matches, the count shown, and
// where Next/Previous go among the matches loaded so far (or that the next page must come first).

/**
 * The url of one page of matches.
 * @param {number} sheetId
 * @param {{q: string, matchCase: boolean, wholeCell: boolean}} query
 * @param {string | null} cursor the `next` of the previous page
 * @param {number} limit
 * @param {string} scope the view's rows (views.js viewScope): find counts and visits only those, in its order
 */
export function findUrl(sheetId, { q, matchCase, wholeCell }, cursor = null, limit = 200, scope = "") {
  const params = new URLSearchParams({ q, match_case: String(matchCase), whole_cell: String(wholeCell), limit: String(limit) });
  if (cursor) params.set("cursor", cursor);
  return `/api/v1/sheets/${sheetId}/find/?${params}${scope ? `&${scope}` : ""}`;
}

/**
 * The url replace-all posts to: within a view (filters), only the rows it shows are changed.
 * @param {number} sheetId
 * @param {string} scope
 */
export function replaceUrl(sheetId, scope = "") {
  return `/api/v1/sheets/${sheetId}/replace/${scope ? `?${scope}` : ""}`;
}

/**
 * What the count says: "" before an answer, "No matches", "120 matches" before moving, "3 of 120".
 * @param {number} position the active match (-1: none yet)
 * @param {number | null} total
 */
export function countLabel(position, total) {
  if (total === null) return "";
  if (!total) return "No matches";
  const all = total.toLocaleString("en");
  if (position < 0) return `${all} ${total === 1 ? "match" : "matches"}`;
  return `${(position + 1).toLocaleString("en")} of ${all}`;
}

/**
 * Where Next (dir 1) or Previous (dir -1) goes: {position}, or {fetch: true} when the next page of
 * matches must be loaded first (then ask again). Next wraps from the last match to the first;
 * Previous from the first to the last only once every page is loaded (else it stays on the first).
 * @param {{position: number, loaded: number, total: number | null, more: boolean}} state
 * @param {1 | -1} dir
 * @returns {{position: number} | {fetch: true}}
 */
export function step({ position, loaded, total, more }, dir) {
  if (!total || (!loaded && !more)) return { position: -1 };
  if (dir > 0) {
    if (position + 1 < loaded) return { position: position + 1 };
    if (more) return { fetch: true };
    return { position: 0 };
  }
  if (position > 0) return { position: Math.min(position - 1, loaded - 1) };
  if (more) return { position: 0 };
  return { position: loaded - 1 };
}

/** What "Replace all" answered, in words. */
export function replacedLabel({ replaced, skipped_count: skipped }) {
  const cells = (n) => `${n.toLocaleString("en")} ${n === 1 ? "cell" : "cells"}`;
  let text = `Replaced ${cells(replaced)}`;
  if (skipped) text += ` · skipped ${cells(skipped)} their column refuses`;
  return text;
}

/**
 * @typedef {{matches: {row: number, col: string, index: number}[], total: number | null, next: string | null, position: number}} Results
 * @typedef {(cursor: string | null) => Promise<{matches: any[], total: number, next: string | null}>} FetchPage
 */

/**
 * Next (dir 1) or Previous (dir -1): the results with the new position, the next pages fetched
 * first when the move goes past the loaded matches.
 * @param {Results} results
 * @param {1 | -1} dir
 * @param {FetchPage} fetchPage
 * @returns {Promise<Results>}
 */
export async function advance(results, dir, fetchPage) {
  for (;;) {
    const todo = step({ position: results.position, loaded: results.matches.length, total: results.total, more: !!results.next }, dir);
    if ("position" in todo) return { ...results, position: todo.position };
    const page = await fetchPage(results.next);
    results = { ...results, matches: [...results.matches, ...page.matches], next: page.next, total: page.total };
  }
}

/**
 * Search again from the first page (the sheet changed), loading as many pages as it takes to
 * hold `keep` matches again, so the active match's place stays (-1: start over).
 * @param {FetchPage} fetchPage
 * @param {number} keep the position to keep
 * @returns {Promise<Results>}
 */
export async function searchAgain(fetchPage, keep = -1) {
  let page = await fetchPage(null);
  const matches = [...page.matches];
  while (keep >= matches.length && page.next) {
    page = await fetchPage(page.next);
    matches.push(...page.matches);
  }
  return { matches, total: page.total, next: page.next, position: Math.min(keep, matches.length - 1) };
}
