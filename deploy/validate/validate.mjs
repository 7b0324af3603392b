// Checks Kubernetes objects against the schemas of the API they name: the Kubernetes API
// (npm package kubernetes-models), Strimzi's kafka.strimzi.io and core.strimzi.io CRDs
// (@kubernetes-models/strimzi-kafka-operator) and the Prometheus Operator's
// monitoring.coreos.com CRDs (@kubernetes-models/prometheus-operator), at the versions
// package-lock.json pins. Install them with `npm ci` in this directory.
//
//   node validate.mjs < objects.json
//
// stdin: a JSON array of objects. stdout: JSON
//   {"packages": {name: installed version}, "results": [{"object": "Kind/name", "errors": [...]}]}
// with one result per object, in order; an object of an API none of the packages knows is an
// error too, never passed over. Exit 0 when every object was checked (valid or not), 2 when the
// input is not a JSON array.
import { readFileSync } from "node:fs";

/** API group -> the package whose models (one module per group/version/kind) hold its schemas. */
const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "core.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};
const KUBERNETES = "kubernetes-models";

/** The module of an apiVersion's kind, e.g. batch/v1 Job -> kubernetes-models/batch/v1/Job. */
function modelModule(apiVersion, kind) {
  const slash = apiVersion.lastIndexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const pkg = PACKAGES[group] ?? (group === "" || !group.includes(".") || group.endsWith(".k8s.io") ? KUBERNETES : null);
  return pkg && `${pkg}/${apiVersion}/${kind}`;
}

async function check(object) {
  const apiVersion = object?.apiVersion;
  const kind = object?.kind;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) {
    return ["no apiVersion and kind to look its schema up by"];
  }
  const module = modelModule(apiVersion, kind);
  let model;
  try {
    model = module && (await import(module))[kind];
  } catch (e) {
    if (e.code !== "ERR_MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
  }
  if (!model || model.apiVersion !== apiVersion || model.kind !== kind) {
    return [`no schema for ${apiVersion} ${kind} in ${[KUBERNETES, ...new Set(Object.values(PACKAGES))].join(", ")}`];
  }
  try {
    new model(object).validate();
    return [];
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    return e.errors.map((err) => `${err.instancePath || "/"} ${err.message}`);
  }
}

function installedVersion(pkg) {
  const file = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(file, "utf8")).version;
}

const objects = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(objects)) {
  console.error("validate.mjs: stdin is not a JSON array of objects");
  process.exit(2);
}
const results = [];
for (const object of objects) {
  results.push({ object: `${object?.kind}/${object?.metadata?.name}`, errors: await check(object) });
}
const packages = {};
for (const pkg of [KUBERNETES, ...new Set(Object.values(PACKAGES))]) {
  packages[pkg] = installedVersion(pkg);
}
process.stdout.write(JSON.stringify({ packages, results }));
