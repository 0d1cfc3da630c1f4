// Validates Kubernetes objects against the API schemas carried by the npm packages
// kubernetes-models (the built-in kinds) and @kubernetes-models/prometheus-operator
// (ServiceMonitor, PrometheusRule): each object is constructed and validated; an unknown kind, a
// missing required field, a wrong type or an unknown field fails.
//   node validate.js OBJECTS.json   (a JSON array, as check.py writes it)
"use strict";
const fs = require("fs");

function modelFor(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const pkg = group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator" : "kubernetes-models";
  const path = group ? `${pkg}/${group}/${version}/${kind}` : `${pkg}/${version}/${kind}`;
  try {
    return require(path)[kind];
  } catch (e) {
    return null;
  }
}

const objects = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const o of objects) {
  const name = `${o.kind}/${o.metadata && o.metadata.name} (${o.apiVersion})`;
  const Model = modelFor(o.apiVersion || "", o.kind || "");
  if (!Model) {
    console.log(`FAIL ${name}: no schema for this apiVersion and kind`);
    failed++;
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    failed++;
  }
}
console.log(`${objects.length - failed} of ${objects.length} objects valid`);
process.exit(failed ? 1 : 0);
