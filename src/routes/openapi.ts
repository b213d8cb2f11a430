import { Hono } from "hono";
import type { AppEnv } from "../env.js";
import { openApiDocument } from "../openapi/document.js";

/** The OpenAPI document; public, like the docs page that renders it. */
export const openapi = new Hono<AppEnv>().get("/openapi.json", (c) => c.json(openApiDocument()));
