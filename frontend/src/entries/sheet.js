// The sheet page: the live grid with presence and activity.
import { mount } from "svelte";
import SheetApp from "../sheet/SheetApp.svelte";
import "../sheet/sheet.css";

const config = JSON.parse(document.getElementById("sheet-config").textContent);
mount(SheetApp, { target: document.getElementById("sheet-app"), props: { config } });
