// validate.mjs - check Kubernetes objects against the Kubernetes API schema, offline.
//
// Usage: node validate.mjs < objects.json     (a JSON array of objects, e.g. from YAML documents)
// Prints one line per object, "ok KIND NAME" or "error KIND NAME: PATH: what", and exits 1 when
// any object is invalid, 2 on bad input.
//
// Two checks, both from npm's kubernetes-models (generated from the Kubernetes OpenAPI spec):
// 1. its JSON-schema validators: types, enums, formats, required fields;
// 2. unknown fields, which the schema allows but the API server drops (or, with
//    kubectl --validate=strict, refuses): every key must be a property of its type, as the
//    models' type declarations (.d.ts) list them - the strict mode of kubeconform.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

// The kinds herd's manifests use: apiVersion/kind -> the model's module.
const MODELS = {
    "batch/v1/Job": "kubernetes-models/batch/v1/Job",
    "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
    "v1/Service": "kubernetes-models/v1/Service",
    "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
};

// A module specifier ("kubernetes-models/batch/v1/Job", "./JobSpec.js" from a file) to its .d.ts.
function dtsOf(spec, fromFile) {
    let file;
    if (spec.startsWith(".")) {
        file = path.resolve(path.dirname(fromFile), spec);
    } else {
        const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
        const pkgJson = require.resolve(`${pkg}/package.json`);
        file = path.join(path.dirname(pkgJson), spec.slice(pkg.length + 1));
    }
    return file.replace(/\.js$/, "") + ".d.ts";
}

// The interface a .d.ts declares: its properties (name -> type text) and its imports.
const cache = new Map();
function declOf(file) {
    if (cache.has(file)) return cache.get(file);
    const text = readFileSync(file, "utf8");
    const imports = {};
    for (const m of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
        for (const name of m[1].split(",").map((s) => s.trim())) imports[name] = m[2];
    }
    const body = text.match(/^export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}$/m);
    let props = null;
    if (body) {
        props = {};
        // Nested braces only in map types: {\n [key: string]: T;\n }
        const src = body[1].replace(/\/\*\*[\s\S]*?\*\//g, "");
        const re = /^ {4}"([^"]+)"\??: ([\s\S]*?);$/gm;
        for (const m of src.matchAll(re)) props[m[1]] = m[2].replace(/\s+/g, " ");
    }
    const decl = { file, imports, props };
    cache.set(file, decl);
    return decl;
}

// Check obj's keys against the type `type` (as written in decl's file), recursively.
function strict(obj, type, decl, where, errors) {
    type = type.trim();
    let m;
    if ((m = type.match(/^Array<(.+)>$/))) {
        if (Array.isArray(obj)) obj.forEach((v, i) => strict(v, m[1], decl, `${where}[${i}]`, errors));
        return;
    }
    if ((m = type.match(/^\{ \[key: string\]: (.+); \}$/))) {
        if (obj && typeof obj === "object" && !Array.isArray(obj))
            for (const [k, v] of Object.entries(obj)) strict(v, m[1], decl, `${where}.${k}`, errors);
        return;
    }
    if (!/^I\w+$/.test(type) || !decl.imports[type]) return; // string, number, a union, ...
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) return; // the schema check says
    const sub = declOf(dtsOf(decl.imports[type], decl.file));
    checkProps(obj, sub, where, errors);
}

function checkProps(obj, decl, where, errors) {
    if (!decl.props) return; // an alias (Quantity, IntOrString, Time): no fields to check
    for (const [k, v] of Object.entries(obj)) {
        if (!(k in decl.props)) {
            errors.push(`${where ? where + "." : ""}${k}: unknown field`);
            continue;
        }
        strict(v, decl.props[k], decl, where ? `${where}.${k}` : k, errors);
    }
}

async function validate(obj) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const name = obj?.metadata?.name ?? "(no name)";
    const mod = MODELS[key];
    if (!mod) return `error ${obj.kind} ${name}: ${key}: not a kind this check knows`;
    const exported = await import(mod);
    const Model = exported[obj.kind];
    const errors = [];
    try {
        new Model(obj).validate();
    } catch (e) {
        errors.push(String(e.message || e).split("\n")[0]);
    }
    const top = declOf(dtsOf(mod, import.meta.url));
    if (!top.props) errors.push(`cannot read the fields of ${key} from ${top.file}`);
    else checkProps(obj, top, "", errors);
    return errors.length ? `error ${obj.kind} ${name}: ${errors.join("; ")}` : `ok ${obj.kind} ${name}`;
}

let docs;
try {
    docs = JSON.parse(readFileSync(0, "utf8"));
    if (!Array.isArray(docs)) throw new Error("expected a JSON array of objects");
} catch (e) {
    console.log(`error: ${e.message}`);
    process.exit(2);
}
let bad = 0;
for (const obj of docs) {
    const line = await validate(obj);
    console.log(line);
    if (line.startsWith("error")) bad++;
}
process.exit(bad ? 1 : 0);
