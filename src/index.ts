import { createApp } from "./app.js";
import { startOrtInWorkerd } from "./runtime/ort-workerd.js";

export default createApp(startOrtInWorkerd);
