// The live dashboard of a workspace: widgets over metrics, pushed live, and its alert rules.
import { mount } from "svelte";
import DashboardApp from "../dashboard/DashboardApp.svelte";
import "../dashboard/dashboard.css";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const target = document.getElementById("dashboard-app");
target.replaceChildren();
mount(DashboardApp, { target, props: { config } });
