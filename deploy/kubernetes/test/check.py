#!/usr/bin/env python3
"""Offline checks of tandem's Kubernetes manifests (docs/deploy-kubernetes.md):

1. every overlay under deploy/kubernetes/overlays renders with `kubectl kustomize` ($KUBECTL,
   or kubectl on PATH);
2. every rendered object is valid against the Kubernetes API schemas (validate.js, npm package
   kubernetes-models; skipped with --no-schemas);
3. the invariants hold: anti-affinity by zone and a PodDisruptionBudget (maxUnavailable 1) for
   every workload, no Secret objects and no secret values inline, the probes on the right
   endpoints, terminationGracePeriodSeconds above the stop budget, the NetworkPolicies (only
   hellod and the members reach PostgreSQL, only the members and Prometheus the REST API), the
   Services selecting the role label tandemd keeps, the RBAC tandemd needs, the site's settings,
   and the PrometheusRule generated from the current monitoring files.

Prints one line per failed check and ends with "ok" or "FAILED"; exit status 0 or 1.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

HERE = pathlib.Path(__file__).resolve().parent
K8S = HERE.parent
ROOT = K8S.parent.parent
ZONE = "topology.kubernetes.io/zone"
SECRET_WORDS = re.compile(r"password|passwd|secret|token|credential", re.I)


class Checker:
    def __init__(self):
        self.failures = []

    def expect(self, ok, what):
        if not ok:
            self.failures.append(what)
        return ok


def render(overlay):
    kubectl = os.environ.get("KUBECTL", "kubectl")
    r = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay.name}: {r.stderr.strip()}")
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def stop_budget_s(tandemd_yml):
    """What tandemd's SIGTERM may take: a fast stop step and an immediate one
    (AGENT_STOP_STEP_MS each), naming the successor and revoking the lease (retry_timeout each),
    and the end of a pass (loop_wait)."""
    priv = (ROOT / "src/tandemd/agent/agent_priv.h").read_text()
    step_ms = int(re.search(r"AGENT_STOP_STEP_MS\s*=\s*(\d+)", priv).group(1))
    dcs = tandemd_yml["bootstrap"]["dcs"]
    return 2 * step_ms / 1000 + 2 * float(dcs["retry_timeout"]) + float(dcs["loop_wait"])


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def pod_labels(workload):
    return workload["spec"]["template"]["metadata"].get("labels", {})


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_workload(c, where, w, pdbs):
    name = f"{where}: {w['kind']}/{w['metadata']['name']}"
    labels = pod_labels(w)
    anti = pod_spec(w).get("affinity", {}).get("podAntiAffinity", {})
    terms = [t for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])]
    terms += [t["podAffinityTerm"]
              for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    zone = [t for t in terms if t.get("topologyKey") == ZONE
            and matches(t.get("labelSelector", {}).get("matchLabels"), labels)]
    c.expect(zone, f"{name}: no pod anti-affinity by {ZONE} that selects its own Pods")
    pdb = [p for p in pdbs.values() if matches(p["spec"]["selector"].get("matchLabels"), labels)]
    c.expect(len(pdb) == 1 and pdb[0]["spec"].get("maxUnavailable") == 1,
             f"{name}: no PodDisruptionBudget with maxUnavailable 1 for its Pods")
    for ctr in pod_spec(w)["containers"]:
        seen = set()
        for e in ctr.get("env", []):
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value", "")):
                c.expect(ref in seen, f"{name}: env {e['name']} uses $({ref}) before it is set")
            seen.add(e["name"])
            if SECRET_WORDS.search(e["name"]) and "USERNAME" not in e["name"]:
                c.expect("secretKeyRef" in e.get("valueFrom", {}),
                         f"{name}: env {e['name']} is not taken from a Secret")


def probe_path(ctr, which):
    return ctr.get(which, {}).get("httpGet", {}).get("path")


def check_probes(c, name, ctr, ready, live):
    for which, path in (("readinessProbe", ready), ("livenessProbe", live)):
        c.expect(probe_path(ctr, which) == path, f"{name}'s {which} is not on {path}")


def check_tandem(c, where, objs, cfg):
    sts = by_kind(objs, "StatefulSet").get("tandem")
    if not c.expect(sts, f"{where}: no StatefulSet tandem"):
        return
    spec = pod_spec(sts)
    ctr = spec["containers"][0]
    # /liveness: 200 through an etcd outage (tests/integration/test_kubernetes.py)
    check_probes(c, f"{where}: tandemd", ctr, "/readiness", "/liveness")
    budget = stop_budget_s(cfg)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    c.expect(grace > budget, f"{where}: tandem terminationGracePeriodSeconds {grace} is not above "
                             f"the stop budget {budget:g} s")
    env = {e["name"]: e for e in ctr.get("env", [])}
    site = env.get("SITE", {}).get("value")
    c.expect(site and site != "set-by-the-overlay", f"{where}: the overlay sets no SITE")
    c.expect(spec.get("serviceAccountName") == "tandemd", f"{where}: tandem runs without its "
                                                          "service account")
    k8s = cfg.get("kubernetes", {})
    label = k8s.get("role_label")
    c.expect(label, f"{where}: tandemd.yml sets no kubernetes.role_label")
    svcs = by_kind(objs, "Service")
    rw = svcs.get("tandem-rw", {}).get("spec", {}).get("selector", {})
    c.expect(rw.get(label) == k8s.get("leader_label_value", "primary"),
             f"{where}: tandem-rw does not select {label}={k8s.get('leader_label_value')}")
    ro = svcs.get("tandem-ro", {}).get("spec", {}).get("selector", {})
    c.expect(ro.get(label) in (None, k8s.get("follower_label_value", "replica")),
             f"{where}: tandem-ro selects the wrong role")
    c.expect(svcs.get("tandem", {}).get("spec", {}).get("clusterIP") == "None",
             f"{where}: no headless Service tandem (one name per member)")
    return site, "TANDEMD_BOOTSTRAP_DCS_STANDBY_CLUSTER_HOST" in env


def check_hellod(c, where, objs, hellod_env):
    d = by_kind(objs, "Deployment").get("hellod")
    if not c.expect(d, f"{where}: no Deployment hellod"):
        return
    ru = d["spec"].get("strategy", {}).get("rollingUpdate", {})
    c.expect(d["spec"].get("strategy", {}).get("type") == "RollingUpdate" and
             ru.get("maxUnavailable") == 0, f"{where}: hellod's rolling update may take a "
                                            "replica away (maxUnavailable is not 0)")
    spec = pod_spec(d)
    ctr = spec["containers"][0]
    check_probes(c, f"{where}: hellod", ctr, "/readyz", "/healthz")
    pre = ctr.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    c.expect(pre[:1] == ["sleep"], f"{where}: hellod has no preStop that lets it drain")
    wait = float(pre[1]) if len(pre) > 1 else 0
    drain = float(hellod_env.get("HELLOD_DRAIN_TIMEOUT", "30s").rstrip("s"))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    c.expect(grace > wait + drain, f"{where}: hellod's grace period {grace} s is not above "
                                   f"preStop + drain-timeout ({wait + drain:g} s)")
    c.expect(hellod_env.get("HELLOD_ALLOW"), f"{where}: hellod's allow-list is not set")


def peers_of(rule):
    return rule.get("from") or [None]  # None: from anywhere


def ports_of(rule):
    return {p.get("port") for p in rule.get("ports") or [{"port": None}]}


def allowed_sources(policies, pod_labels_, port):
    """Every peer that some policy lets reach `port` on Pods with `pod_labels_`."""
    out = []
    for p in policies.values():
        if not matches(p["spec"]["podSelector"].get("matchLabels"), pod_labels_):
            continue
        for rule in p["spec"].get("ingress") or []:
            if port in ports_of(rule) or None in ports_of(rule):
                out.extend(peers_of(rule))
    return out


def peer_app(peer):
    return (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name")


def peer_namespace(peer):
    return (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get(
        "kubernetes.io/metadata.name")


def check_network(c, where, objs):
    pols = by_kind(objs, "NetworkPolicy")
    deny = [p for p in pols.values() if p["spec"]["podSelector"] == {} and
            "Ingress" in p["spec"].get("policyTypes", []) and not p["spec"].get("ingress")]
    c.expect(deny, f"{where}: no default-deny ingress NetworkPolicy")
    member = {"app.kubernetes.io/name": "tandemd", "app.kubernetes.io/part-of": "tandem"}
    for peer in allowed_sources(pols, member, 5432):
        ok = peer is not None and peer_app(peer) in ("hellod", "tandemd") and \
            peer_namespace(peer) in (None, "tandem-b")
        c.expect(ok, f"{where}: PostgreSQL (5432) is open to {peer or 'anyone'}")
    for peer in allowed_sources(pols, member, 8008):
        ok = peer is not None and (peer_app(peer) == "tandemd" and not peer_namespace(peer) or
                                   peer_namespace(peer) == "monitoring" and not peer_app(peer))
        c.expect(ok, f"{where}: tandemd's REST API (8008) is open to {peer or 'anyone'}")
    etcd = {"app.kubernetes.io/name": "etcd", "app.kubernetes.io/part-of": "tandem"}
    for peer in allowed_sources(pols, etcd, 2379):
        c.expect(peer is not None and peer_app(peer) in ("tandemd", "etcd") and
                 not peer_namespace(peer), f"{where}: etcd's client port is open to "
                                           f"{peer or 'anyone'}")


def check_secrets(c, where, objs):
    for o in objs:
        c.expect(o["kind"] != "Secret", f"{where}: Secret/{o['metadata']['name']} is inlined "
                                        "(create it with kubectl create secret)")
        if o["kind"] == "ConfigMap":
            for k, v in (o.get("data") or {}).items():
                text = yaml.safe_load(v) if k.endswith((".yml", ".yaml")) else None
                for path, value in walk(text) if text else [(k, v)]:
                    c.expect(not SECRET_WORDS.search(path) or not value,
                             f"{where}: ConfigMap {o['metadata']['name']} holds {path}")


def walk(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def check_rbac(c, where, objs):
    role = by_kind(objs, "Role").get("tandemd")
    ok = role and any("pods" in r.get("resources", []) and
                      {"get", "patch"} <= set(r.get("verbs", [])) for r in role["rules"])
    c.expect(ok, f"{where}: no Role tandemd granting pods get and patch")
    rb = by_kind(objs, "RoleBinding").get("tandemd")
    c.expect(rb and rb["roleRef"]["name"] == "tandemd" and
             any(s["name"] == "tandemd" for s in rb["subjects"]),
             f"{where}: the Role tandemd is not bound to the service account tandemd")


def check_monitoring(c, where, objs):
    c.expect(by_kind(objs, "ServiceMonitor").get("tandem"), f"{where}: no ServiceMonitor tandem")
    rule = by_kind(objs, "PrometheusRule").get("tandem")
    c.expect(rule is not None, f"{where}: no PrometheusRule tandem")
    has_sources = (ROOT / "monitoring" / "gen_rules.py").exists() or \
        any((ROOT / "monitoring" / "rules").glob("*.y*ml"))
    if rule is not None and has_sources:
        c.expect(rule["spec"]["groups"], f"{where}: the PrometheusRule holds no rules")


def check_overlay(c, overlay):
    where = overlay.name
    objs = render(overlay)
    cms = by_kind(objs, "ConfigMap")
    cfg_cm = [o for n, o in cms.items() if n.startswith("tandemd-config")]
    cfg = yaml.safe_load(cfg_cm[0]["data"]["tandemd.yml"]) if cfg_cm else {}
    hellod_cm = [o for n, o in cms.items() if n.startswith("hellod-config")]
    hellod_env = hellod_cm[0]["data"] if hellod_cm else {}
    etcd = by_kind(objs, "StatefulSet").get("etcd", {})
    c.expect(etcd.get("spec", {}).get("replicas") == 3,
             f"{where}: etcd is not a StatefulSet of 3 members")
    pdbs = by_kind(objs, "PodDisruptionBudget")
    for kind in ("StatefulSet", "Deployment"):
        for w in by_kind(objs, kind).values():
            check_workload(c, where, w, pdbs)
    site = check_tandem(c, where, objs, cfg)
    check_hellod(c, where, objs, hellod_env)
    check_network(c, where, objs)
    check_secrets(c, where, objs)
    check_rbac(c, where, objs)
    check_monitoring(c, where, objs)
    return objs, site


def main():
    c = Checker()
    schemas = "--no-schemas" not in sys.argv[1:]
    overlays = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
    everything, sites = [], {}
    for overlay in overlays:
        try:
            objs, site = check_overlay(c, overlay)
        except RuntimeError as e:
            c.expect(False, str(e))
            continue
        everything += objs
        sites[overlay.name] = site
    c.expect(sites.get("site-a") and not sites["site-a"][1], "site-a is not a primary site")
    c.expect(sites.get("site-b") and sites["site-b"][1], "site-b is not a standby cluster")
    names = [s[0] for s in sites.values() if s]
    c.expect(len(set(names)) == len(names), "two overlays share a SITE (member names would clash)")
    gen = subprocess.run([sys.executable, str(K8S / "gen-prometheusrule.py"), "--check"],
                         capture_output=True, text=True)
    c.expect(gen.returncode == 0, gen.stderr.strip())
    if schemas:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(everything, f)
            f.flush()
            v = subprocess.run(["node", str(HERE / "validate.js"), f.name], capture_output=True,
                               text=True, cwd=HERE)
            print(v.stdout.strip())
            c.expect(v.returncode == 0, "schema validation failed" +
                     (": " + v.stderr.strip() if v.stderr.strip() else ""))
    for f in c.failures:
        print("FAIL", f)
    print(f"{len(overlays)} overlays rendered, {len(everything)} objects; "
          + ("ok" if not c.failures else "FAILED"))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
