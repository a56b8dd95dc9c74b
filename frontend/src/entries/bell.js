// The notification bell in the top bar of every page of a logged-in person.
import { mount } from "svelte";
import Bell from "../bell/Bell.svelte";
import "../bell/bell.css";

const target = document.getElementById("bell");
if (target) mount(Bell, { target });
