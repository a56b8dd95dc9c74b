// The notification bell in the top bar of every page of a logged-in person.
import { mount } from "svelte";
import Bell from "../bell/Bell.svelte"; // its styles come with base.js: one stylesheet less to wait for

// After the page's first paint: its list and event stream are not what a page shows first.
const target = document.getElementById("bell");
if (target) requestAnimationFrame(() => setTimeout(() => mount(Bell, { target }), 0));
