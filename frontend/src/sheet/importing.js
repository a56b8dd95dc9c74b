// Import into this sheet, without the DOM: which sheet columns a file can fill, the mapping a file
// starts with, the request's form, and what the dialog says about it (ImportDialog.svelte).

export const ACCEPT = ".csv,.tsv,.txt,text/csv,.xlsx,.xlsm,.xlsb,.xls,.ods";
const EXTENSIONS = /\.(csv|tsv|txt|xlsx|xlsm|xlsb|xls|ods)$/i;

/** The sheet columns a file column can go to: every column but computed (formula) ones. */
export function targets(columns) {
  return columns.filter((c) => c.type !== "formula");
}

/**
 * The mapping a file starts with, {file column: sheet column key or null (skipped)}: the server's
 * (by name) where it goes to a column that can be filled; every other file column skipped.
 */
export function defaultMapping(fileColumns, suggested, columns) {
  const fillable = new Set(targets(columns).map((c) => c.key));
  return Object.fromEntries(fileColumns.map((name) => [name, fillable.has(suggested?.[name]) ? suggested[name] : null]));
}

/** Whether two mappings send every file column to the same place (null and absent alike). */
export function sameMapping(a, b) {
  const names = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  return [...names].every((name) => (a?.[name] ?? null) === (b?.[name] ?? null));
}

/** The sheet columns some file column is mapped to, in the sheet's order (the key's choices). */
export function keyChoices(mapping, columns) {
  const used = new Set(Object.values(mapping).filter(Boolean));
  return columns.filter((c) => used.has(c.key));
}

/** The key column: the one chosen while a file column still goes to it, else the first mapped. */
export function defaultKey(current, mapping, columns) {
  const choices = keyChoices(mapping, columns);
  return choices.some((c) => c.key === current) ? current : choices[0]?.key ?? "";
}

/** Why this mapping cannot be sent, or "": nothing mapped, or two file columns to one column. */
export function mappingProblem(mapping, columns) {
  const used = Object.values(mapping).filter(Boolean);
  if (!used.length) return "Choose a sheet column for at least one column of the file.";
  const twice = used.find((key, i) => used.indexOf(key) !== i);
  if (twice) {
    const name = columns.find((c) => c.key === twice)?.name ?? twice;
    return `Two columns of the file go to “${name}”: choose one.`;
  }
  return "";
}

/** Why this file cannot be imported (before sending it), or "". */
export function fileProblem(file, maxBytes) {
  if (!EXTENSIONS.test(file.name)) return `“${file.name}” is not a CSV file or a workbook (.xlsx, .xls, .ods).`;
  if (maxBytes && file.size > maxBytes) return `“${file.name}” is larger than ${megabytes(maxBytes)}, the most an import takes.`;
  if (!file.size) return `“${file.name}” is empty.`;
  return "";
}

const megabytes = (bytes) => `${Math.round(bytes / 1024 / 1024).toLocaleString()} MB`;

/**
 * The multipart form of a request: `mapping` null lets the server map by name (a new file or
 * worksheet); an upsert sends its key; `worksheet` and `dateOrder` when chosen.
 */
export function importForm({ file, mode, key, mapping, worksheet, dateOrder }) {
  const form = new FormData();
  form.append("file", file);
  form.append("mode", mode);
  if (mode === "upsert" && key) form.append("key", key);
  if (mapping) form.append("mapping", JSON.stringify(mapping));
  if (worksheet) form.append("sheet", worksheet);
  if (dateOrder) form.append("date_order", dateOrder);
  return form;
}

const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** A preview's counts in words: "3 new rows · 2 updated · 1 unchanged". */
export function countsText({ new: added, updated, unchanged }, mode) {
  const parts = [plural(added, "new row")];
  if (mode === "upsert") parts.push(`${updated.toLocaleString()} updated`, `${unchanged.toLocaleString()} unchanged`);
  return parts.join(" · ");
}

/** An import's answer in words: "12 rows added, 3 updated". */
export function resultText({ new: added, updated }) {
  return updated ? `${plural(added, "row")} added, ${updated.toLocaleString()} updated` : `${plural(added, "row")} added`;
}

/** A finished import job's result in words (a large file is imported by a background job). */
export function jobResultText(job) {
  return `${plural(job.rows, "row")} imported`;
}

/**
 * Follow an import job (a large file's 202 answer) until it ends: `get(id)` polls it, `wait(ms)`
 * pauses, `onjob` sees each state. The finished job; an Error with the job's reason when it failed.
 * @param {any} job
 * @param {{ get: (id: number) => Promise<any>, wait: (ms: number) => Promise<any>, onjob?: (job: any) => void, everyMs?: number }} how
 */
export async function followJob(job, { get, wait, onjob = (_job) => {}, everyMs = 500 }) {
  onjob(job);
  while (job.status === "queued" || job.status === "running") {
    await wait(everyMs);
    job = await get(job.id);
    onjob(job);
  }
  if (job.status === "failed") throw new Error(job.error || "The import failed.");
  return job;
}

/**
 * Why Import cannot be pressed now, or "" (it can): a problem with the file, the mapping, the
 * key or some rows, or nothing to do.
 */
export function blockedReason({ file, problem, checking, preview, mapping, columns, mode, key }) {
  if (!file) return "Choose a file first.";
  if (problem) return "Fix the problem above first.";
  if (Object.keys(mapping).length) {
    const wrong = mappingProblem(mapping, columns);
    if (wrong) return wrong;
  }
  if (mode === "upsert" && !key) return "Choose the key column rows are matched on.";
  if (checking || !preview) return "Checking the file…";
  if (preview.bad_count) {
    return `${plural(preview.bad_count, "row")} of the file cannot be imported (listed above): correct the file, or skip the columns at fault.`;
  }
  if (!preview.new && !preview.updated) return "Nothing to import: every row of the file is already in the sheet as it is.";
  return "";
}
