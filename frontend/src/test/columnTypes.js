// The column type table as the server renders it, for unit tests.
export const TYPES = {
  text: { label: "Text", icon: "Aa", numeric: false, time: false, align: "left", editor: "text", options: [] },
  number: { label: "Number", icon: "1.5", numeric: true, time: false, align: "right", editor: "number", options: [] },
  integer: { label: "Integer", icon: "123", numeric: true, time: false, align: "right", editor: "number", options: [] },
  boolean: { label: "Yes/no", icon: "✓", numeric: false, time: false, align: "left", editor: "checkbox", options: [] },
  date: { label: "Date", icon: "▦", numeric: false, time: true, align: "left", editor: "date", options: [] },
  datetime: { label: "Date and time", icon: "◷", numeric: false, time: true, align: "left", editor: "datetime", options: [] },
  choice: { label: "Choice", icon: "☰", numeric: false, time: false, align: "left", editor: "choice", options: ["choices"] },
};
