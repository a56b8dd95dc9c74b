// The workspace home page: workspaces, their sheets and what the user may do with them.
import { mount } from "svelte";
import Home from "../home/Home.svelte";

const data = JSON.parse(document.getElementById("home-data").textContent);
const target = document.getElementById("home");
target.replaceChildren();
mount(Home, { target, props: { initial: data } });
