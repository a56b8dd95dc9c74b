// Loaded by every page: the shared styles and the theme toggle.
import "vite/modulepreload-polyfill";
import "../styles/app.css";
import { installThemeToggle } from "../lib/theme.js";

installThemeToggle();
