// A list the API pages newest first ({results, next}; `next` is the `before` of the page after):
// the pages loaded so far, whether one is loading, and why the last failed.
import { api } from "./api.js";

export class Paged {
  items = $state([]);
  next = $state(null);
  loading = $state(true);
  error = $state("");

  /** @param {() => string} url the list's URL (read at each load) @param {number} size per page */
  constructor(url, size = 20) {
    this.url = url;
    this.size = size;
  }

  /** The first page again (no `before`), or the page after `before`, added to the ones shown. */
  async load(before = null) {
    this.loading = true;
    this.error = "";
    try {
      const page = await api("GET", `${this.url()}?limit=${this.size}${before ? `&before=${before}` : ""}`);
      this.items = before ? [...this.items, ...page.results] : page.results;
      this.next = page.next;
    } catch (e) {
      this.error = e.message;
    } finally {
      this.loading = false;
    }
  }
}
