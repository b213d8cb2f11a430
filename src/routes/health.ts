import { Hono } from "hono";
import type { AppEnv } from "../env.js";

export const health = new Hono<AppEnv>().get("/healthz", (c) => c.json({ status: "ok" }));
