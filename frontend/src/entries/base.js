// Loaded by every page: the shared styles and the theme toggle.
import "vite/modulepreload-polyfill";
import "../styles/app.css";
import "../bell/bell.css"; // the bell's (bell.js), here so that a page has one stylesheet less to wait for
import { installThemeToggle } from "../lib/theme.js";

installThemeToggle();
