#!/usr/bin/python3
"""Structural checks of the deployment files (tests/deploy/06NN-*.sh).

Schema validators (jv, kubeconform) prove the files are well-formed; these
checks prove they agree with each other and with rostersync's configuration:
the ports Prometheus scrapes and Kubernetes probes are the ones the config
listens on, KEDA watches the worker's consumer group and topic, every secret
a tenant file names is mounted, the image has the libraries the binaries
need.  Each problem is printed on one line; exit 1 when there is any.

  check_deploy.py conf-get DUMP KEY
  check_deploy.py compose COMPOSE PROMETHEUS_YML DUMP
  check_deploy.py dockerfile DOCKERFILE BINARY...
  check_deploy.py k8s-fs K8S_DIR DEPLOYMENT OUT
  check_deploy.py k8s K8S_DIR DUMP FSROOT_PLANNER FSROOT_WORKER KEDA_KAFKA_TAGS

DUMP is the output of `rostersync-confdoc --dump`, the effective
configuration with defaults filled in (e.g. the topic names).
Run with Debian's /usr/bin/python3 (python3-yaml, from scripts/install-deps).
"""
import os
import re
import subprocess
import sys

import yaml

problems = []


def expect(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def done():
    for p in problems:
        print("problem: " + p)
    sys.exit(1 if problems else 0)


def conf_parse(path):
    """Flattens a `rostersync-confdoc --dump` into {"a.b.c": "value"}.

    The dump is regular (one setting or group per line), which is all this
    needs: scalars only, lists are skipped."""
    out, stack = {}, []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r'^([A-Za-z0-9_]+)\s*=\s*\{$', line)
            if m:
                stack.append(m.group(1))
                continue
            if line.startswith("}"):
                stack.pop()
                continue
            m = re.match(r'^([A-Za-z0-9_]+)\s*=\s*(.*?);$', line)
            if m and not m.group(2).startswith("["):
                v = m.group(2)
                if v.startswith('"') and v.endswith('"'):
                    v = v[1:-1]
                out[".".join(stack + [m.group(1)])] = v
    return out


def listen_port(conf, key):
    v = conf.get(key, "")
    expect(":" in v, "%s is not HOST:PORT (%r)" % (key, v))
    host, _, port = v.rpartition(":")
    # In a container the scraper and the probes come from outside the
    # network namespace: a loopback listener would be unreachable.
    expect(host in ("0.0.0.0", "*", ""),
           "%s listens on %s: unreachable from outside the container" % (key, host))
    return int(port) if port.isdigit() else -1


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---- compose ---------------------------------------------------------------

def check_compose(compose_path, prom_path, dump):
    conf = conf_parse(dump)
    c = load_all(compose_path)[0]
    svcs = c.get("services", {})
    for s in ("kafka", "sim", "planner", "worker", "prometheus"):
        expect(s in svcs, "service %s missing" % s)
    if problems:
        return
    # References the schema cannot check (what `docker compose config`
    # would reject): named volumes, configs and depends_on targets exist.
    for name, sv in svcs.items():
        for v in sv.get("volumes", []):
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            typ = v.get("type", "volume") if isinstance(v, dict) else (
                "bind" if src.startswith((".", "/", "~")) else "volume")
            if typ == "volume" and src:
                expect(src in (c.get("volumes") or {}),
                       "%s uses volume %r, not declared in volumes:" % (name, src))
        for cf in sv.get("configs", []):
            src = cf.get("source") if isinstance(cf, dict) else cf
            expect(src in (c.get("configs") or {}),
                   "%s uses config %r, not declared in configs:" % (name, src))
        dep = sv.get("depends_on", {})
        for d in (dep if isinstance(dep, (dict, list)) else []):
            expect(d in svcs, "%s depends on unknown service %r" % (name, d))
    for cname, cf in (c.get("configs") or {}).items():
        if "file" in cf:
            expect(os.path.isfile(os.path.join(os.path.dirname(compose_path), cf["file"])),
                   "config %s: file %s does not exist" % (cname, cf["file"]))
    k = svcs["kafka"]
    expect(str(k.get("image", "")).startswith("apache/kafka:3.9"),
           "kafka image is %r, want apache/kafka:3.9.x" % k.get("image"))
    env = k.get("environment", {})
    roles = str(env.get("KAFKA_PROCESS_ROLES", ""))
    expect("broker" in roles and "controller" in roles,
           "kafka is not a KRaft broker+controller (KAFKA_PROCESS_ROLES=%r)" % roles)
    expect(not any("ZOOKEEPER" in e for e in env), "kafka mentions ZooKeeper")
    adv = str(env.get("KAFKA_ADVERTISED_LISTENERS", ""))
    brokers = conf.get("queue.kafka.brokers", "")
    expect(conf.get("queue.backend") == "kafka", "queue.backend is not kafka")
    expect(brokers and all(b in adv for b in brokers.split(",")),
           "queue.kafka.brokers %r not advertised by kafka (%r)" % (brokers, adv))

    w = svcs["worker"]
    expect(w.get("deploy", {}).get("replicas") == 3,
           "worker deploy.replicas is %r, want 3" % w.get("deploy", {}).get("replicas"))

    ports = {"planner": listen_port(conf, "planner.metrics_listen"),
             "worker": listen_port(conf, "worker.metrics_listen")}
    conf_src = c.get("configs", {}).get("rostersync_conf", {}).get("file")
    expect(conf_src == "./config/rostersync.conf",
           "configs.rostersync_conf.file is %r" % conf_src)
    for name in ("planner", "worker"):
        s = svcs[name]
        targets = [x.get("target") for x in s.get("configs", []) if x.get("source") == "rostersync_conf"]
        expect(targets == ["/etc/rostersync/rostersync.conf"],
               "%s does not mount rostersync_conf at /etc/rostersync/rostersync.conf" % name)
        cmd = s.get("command", [])
        expect(cmd[:3] == ["rostersync-%s" % name, "-c", "/etc/rostersync/rostersync.conf"],
               "%s command is %r" % (name, cmd[:3]))
        expect(str(ports[name]) in [str(p) for p in s.get("expose", [])],
               "%s does not expose its metrics port %d" % (name, ports[name]))
        expect(str(s.get("environment", {}).get("RS_METRICS_PORT")) == str(ports[name]),
               "%s RS_METRICS_PORT (HEALTHCHECK) is not %d" % (name, ports[name]))
        expect(s.get("read_only") is True, "%s root filesystem is not read-only" % name)
        expect("ALL" in s.get("cap_drop", []), "%s keeps capabilities" % name)
        vols = [v.get("source") for v in s.get("volumes", []) if isinstance(v, dict)]
        expect("tenants" in vols, "%s does not mount the tenants volume" % name)
        # Compose waits for the broker before starting rostersync.
        dep = s.get("depends_on", {})
        expect(isinstance(dep, dict) and dep.get("kafka", {}).get("condition") == "service_healthy",
               "%s does not wait for a healthy kafka" % name)
    # The dump was loaded with the example tenants (-X tenants_dir), so read
    # the file compose mounts for its own value.
    raw = open(os.path.join(os.path.dirname(compose_path), conf_src or "")).read()
    td = re.findall(r'^tenants_dir\s*=\s*"([^"]*)"', raw, re.M)
    expect(td and td[0].startswith("/var/lib/rostersync/tenants/"),
           "tenants_dir %r is not inside the tenants volume" % td)

    p = load_all(prom_path)[0]
    jobs = {j["job_name"]: j for j in p.get("scrape_configs", [])}
    pl = jobs.get("rostersync-planner", {})
    st = [t for sc in pl.get("static_configs", []) for t in sc.get("targets", [])]
    expect(st == ["planner:%d" % ports["planner"]],
           "prometheus planner targets %r, want planner:%d" % (st, ports["planner"]))
    wk = jobs.get("rostersync-worker", {})
    dns = wk.get("dns_sd_configs", [{}])[0]
    # A static "worker:PORT" would reach one replica; DNS SD finds all.
    expect(dns.get("names") == ["worker"] and dns.get("type") == "A" and
           dns.get("port") == ports["worker"],
           "prometheus worker job is not DNS SD of worker:%d (%r)" % (ports["worker"], dns))
    pr = svcs["prometheus"]
    expect(any(x.get("source") == "prometheus_yml" and
               x.get("target") == pr.get("command", [""])[0].split("=", 1)[-1]
               for x in pr.get("configs", [])),
           "prometheus does not load the mounted prometheus.yml")
    expect(c.get("configs", {}).get("prometheus_yml", {}).get("file") == "./prometheus.yml",
           "configs.prometheus_yml.file is not ./prometheus.yml")


# ---- Dockerfile -------------------------------------------------------------

def needed_packages(binaries):
    """{(binary, lib): Debian package} for each binary's direct NEEDED
    libraries (one dpkg -S for all: it is slow per call)."""
    need, paths = [], set()
    for binary in binaries:
        out = subprocess.run(["readelf", "-d", binary], check=True,
                             capture_output=True, text=True).stdout
        ldd = subprocess.run(["ldd", binary], check=True, capture_output=True,
                             text=True).stdout
        found = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in re.findall(r"\(NEEDED\).*\[(.+)\]", out):
            path = found.get(lib)
            if expect(path, "%s: %s not resolved by ldd" % (binary, lib)):
                # dpkg knows the path the package shipped: with merged /usr
                # that may be the /lib or the /usr/lib spelling.
                alts = {path, os.path.realpath(path)}
                alts |= {p[4:] if p.startswith("/usr/") else "/usr" + p for p in list(alts)}
                need.append((binary, lib, alts))
                paths |= alts
    r = subprocess.run(["dpkg", "-S"] + sorted(paths), capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":", 1)[0].strip()
    out = {}
    for binary, lib, alts in need:
        pkg = next((owner[a] for a in sorted(alts) if a in owner), None)
        if expect(pkg, "%s: no Debian package owns %s" % (binary, lib)):
            out[(binary, lib)] = pkg
    return out


def check_dockerfile(path, binaries):
    text = open(path).read()
    # Join continuation lines so each instruction is one line.
    text = re.sub(r"\\\n", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages, cur = [], None
    for l in lines:
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", l, re.I)
        if m:
            cur = {"image": m.group(1), "name": m.group(2), "ins": []}
            stages.append(cur)
        elif cur is not None:
            cur["ins"].append(l)
    if not expect(len(stages) >= 2, "not a multi-stage build"):
        return
    for s in stages:
        expect(s["image"].startswith("debian:bookworm"),
               "stage %s is not Debian bookworm (%s)" % (s["name"], s["image"]))
    build, run = stages[0], stages[-1]
    b = "\n".join(build["ins"])
    expect(re.search(r"^RUN scripts/install-deps\b", b, re.M),
           "build stage does not run scripts/install-deps")
    expect(re.search(r"^RUN scripts/build\b.*--prefix /opt/rostersync", b, re.M),
           "build stage does not run scripts/build --prefix /opt/rostersync")
    r = "\n".join(run["ins"])
    expect(re.search(r"^COPY --from=%s /opt/rostersync /opt/rostersync" % build["name"], r, re.M),
           "runtime stage does not copy /opt/rostersync from the build stage")
    expect(not re.search(r"-dev\b|\bgcc\b|cmake", r),
           "runtime stage installs build tools or -dev packages")
    users = re.findall(r"^USER\s+(\S+)", r, re.M)
    expect(users and users[-1].split(":")[0] not in ("0", "root"),
           "runtime stage does not end as a non-root user (%r)" % users)
    expect(users and users[-1].split(":")[0].isdigit(),
           "USER is not numeric (Kubernetes runAsNonRoot needs a uid)")
    hc = re.findall(r"^HEALTHCHECK .*", r, re.M)
    expect(hc and "/healthz" in hc[0], "no HEALTHCHECK on /healthz")
    m = re.search(r"apt-get install[^&]*", r)
    if not expect(m, "runtime stage installs no packages"):
        return
    listed = set(re.findall(r"\b([a-z0-9][a-z0-9.+-]+[0-9a-z])\b", m.group(0)))
    for (binary, lib), pkg in needed_packages(binaries).items():
        # libc6 is Essential in every Debian image; sanitizer runtimes
        # appear only in the ASan/UBSan test build, never in the image.
        if re.match(r"lib(asan|ubsan|tsan|lsan)", lib):
            continue
        expect(pkg in listed or pkg == "libc6",
               "%s needs %s from %s, not installed in the runtime stage"
               % (os.path.basename(binary), lib, pkg))


# ---- Kubernetes ---------------------------------------------------------------

def k8s_docs(d):
    docs = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".yaml") and n != "kustomization.yaml":
            docs += load_all(os.path.join(d, n))
    return docs


def find(docs, kind, name=None):
    r = [x for x in docs if x.get("kind") == kind and
         (name is None or x["metadata"]["name"] == name)]
    return r


def k8s_fs(d, deployment, out):
    """Lays out what the deployment's container sees under its volume mounts
    (ConfigMaps, projected Secrets) below OUT, with /etc/rostersync paths
    inside the files rewritten to OUT, so rostersync-confdoc --check can load
    the config exactly as the pod would."""
    docs = k8s_docs(d)
    dep = find(docs, "Deployment", deployment)[0]
    spec = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    cms = {x["metadata"]["name"]: x for x in find(docs, "ConfigMap")}
    secs = {x["metadata"]["name"]: x for x in find(docs, "Secret")}

    def write(path, data):
        p = out + path
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(data.replace("/etc/rostersync/", out + "/etc/rostersync/"))

    for m in spec["containers"][0].get("volumeMounts", []):
        v = vols[m["name"]]
        if "configMap" in v:
            data = cms[v["configMap"]["name"]]["data"]
            if "subPath" in m:
                write(m["mountPath"], data[m["subPath"]])
            else:
                for k, val in data.items():
                    write(m["mountPath"] + "/" + k, val)
        elif "projected" in v:
            for src in v["projected"]["sources"]:
                s = secs[src["secret"]["name"]]
                vals = dict(s.get("stringData", {}))
                for it in src["secret"].get("items", []):
                    expect(it["key"] in vals, "Secret %s has no key %s"
                           % (s["metadata"]["name"], it["key"]))
                    write(m["mountPath"] + "/" + it["path"], vals.get(it["key"], ""))


def keda_tags(path):
    """The kafka scaler's trigger parameters: {name: (go type, options)}."""
    out = {}
    for line in open(path):
        m = re.match(r'\s*\w+\s+(\S+)\s+`keda:"name=([^,"]+)((?:,[^"]*)?)"', line)
        if m:
            opts = dict(kv.split("=", 1) if "=" in kv else (kv, "")
                        for kv in m.group(3).split(",") if kv)
            out[m.group(2)] = (m.group(1), opts)
    return out


def check_trigger(md, tags):
    """KEDA's CRD types trigger metadata as map[string]string, so its schema
    accepts any key: check keys, types and enums against the scaler."""
    for k, v in md.items():
        t = tags.get(k)
        if not expect(t and "triggerMetadata" in t[1].get("order", ""),
                      "kafka trigger: unknown metadata key %r" % k):
            continue
        typ, opts = t
        if typ in ("int", "int64", "int32"):
            expect(re.match(r"^-?\d+$", v), "kafka trigger: %s=%r is not an integer" % (k, v))
        elif typ == "bool":
            expect(v in ("true", "false"), "kafka trigger: %s=%r is not true/false" % (k, v))
        if "enum" in opts:
            expect(v in opts["enum"].split(";"), "kafka trigger: %s=%r not in %s" % (k, v, opts["enum"]))
    for k, (typ, opts) in tags.items():
        if "triggerMetadata" in opts.get("order", "") and "optional" not in opts \
                and "default" not in opts and "authParams" not in opts.get("order", ""):
            expect(k in md, "kafka trigger: required metadata %r missing" % k)


def check_k8s(d, dump, fs_planner, fs_worker, tags_path):
    conf = conf_parse(dump)
    docs = k8s_docs(d)
    ports = {"planner": listen_port(conf, "planner.metrics_listen"),
             "worker": listen_port(conf, "worker.metrics_listen")}
    for role in ("planner", "worker"):
        deps = find(docs, "Deployment", "rostersync-" + role)
        if not expect(deps, "Deployment rostersync-%s missing" % role):
            continue
        dep = deps[0]
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        c = spec["containers"][0]
        expect(c.get("args", [])[:3] == ["rostersync-" + role, "-c", "/etc/rostersync/rostersync.conf"],
               "%s args %r" % (role, c.get("args")))
        named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        expect(named.get("metrics") == ports[role],
               "%s containerPort metrics is %r, config listens on %d"
               % (role, named.get("metrics"), ports[role]))
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            g = c.get(probe, {}).get("httpGet", {})
            port = named.get(g.get("port"), g.get("port"))
            expect(g.get("path") == path and port == ports[role],
                   "%s %s is %r, want GET %s on %d" % (role, probe, g, path, ports[role]))
        ann = pod["metadata"].get("annotations", {})
        expect(ann.get("prometheus.io/port") == str(ports[role]),
               "%s prometheus.io/port annotation is not %d" % (role, ports[role]))
        psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
        expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0,
               "%s pod does not run as non-root" % role)
        expect(csc.get("readOnlyRootFilesystem") is True, "%s root fs is writable" % role)
        expect(csc.get("allowPrivilegeEscalation") is False, "%s may escalate" % role)
        expect("ALL" in csc.get("capabilities", {}).get("drop", []), "%s keeps capabilities" % role)
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                expect(r in res.get(kind, {}), "%s has no %s.%s" % (role, kind, r))
        expect(spec.get("automountServiceAccountToken") is False,
               "%s mounts a service account token" % role)
        for m in c.get("volumeMounts", []):
            if m["mountPath"].startswith("/etc/rostersync"):
                expect(m.get("readOnly") is True, "%s mounts %s writable" % (role, m["mountPath"]))
    w = find(docs, "Deployment", "rostersync-worker")
    if w:
        w = w[0]
        expect("replicas" not in w["spec"], "worker Deployment sets replicas (KEDA owns them)")
        tgp = w["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        sd = conf.get("worker.shutdown_timeout", "30s")
        sds = int(re.sub(r"s$", "", sd)) if re.match(r"^\d+s$", sd) else 30
        expect(tgp > sds, "worker terminationGracePeriodSeconds %d <= shutdown_timeout %ds" % (tgp, sds))

    so = find(docs, "ScaledObject")
    if expect(len(so) == 1, "want one KEDA ScaledObject, found %d" % len(so)):
        s = so[0]["spec"]
        expect(s["scaleTargetRef"].get("name") == "rostersync-worker" and
               s["scaleTargetRef"].get("kind", "Deployment") == "Deployment",
               "ScaledObject does not target the worker Deployment")
        trig = [t for t in s.get("triggers", []) if t.get("type") == "kafka"]
        if expect(trig, "ScaledObject has no kafka trigger"):
            md = trig[0]["metadata"]
            expect(md.get("consumerGroup") == conf.get("worker.group_id"),
                   "KEDA consumerGroup %r != worker.group_id %r"
                   % (md.get("consumerGroup"), conf.get("worker.group_id")))
            expect(md.get("topic") == conf.get("queue.kafka.topics.jobs_group"),
                   "KEDA topic %r != queue.kafka.topics.jobs_group %r"
                   % (md.get("topic"), conf.get("queue.kafka.topics.jobs_group")))
            check_trigger(md, keda_tags(tags_path))
            expect(md.get("bootstrapServers") == conf.get("queue.kafka.brokers"),
                   "KEDA bootstrapServers %r != queue.kafka.brokers %r"
                   % (md.get("bootstrapServers"), conf.get("queue.kafka.brokers")))
        parts = int(conf.get("queue.kafka.partitions", "0"))
        expect(0 < s.get("maxReplicaCount", 100) <= parts,
               "maxReplicaCount %r exceeds the %d partitions" % (s.get("maxReplicaCount"), parts))

    # One key per customer, and every file the tenant files name exists in
    # both pods' file systems (mounted from a ConfigMap or a Secret).
    tn = find(docs, "ConfigMap", "rostersync-tenants")
    if expect(tn, "ConfigMap rostersync-tenants missing"):
        data = tn[0]["data"]
        for key, text in data.items():
            ids = re.findall(r'^\s*id\s*=\s*"([^"]+)"', text, re.M)
            expect(ids == [key[:-5]] and key.endswith(".conf"),
                   "tenant key %s holds tenant ids %r (want one, named like the key)" % (key, ids))
            refs = re.findall(r'"(?:file:)?(/etc/rostersync/[^"]+)"', text)
            for r in refs:
                for role, root in (("planner", fs_planner), ("worker", fs_worker)):
                    expect(os.path.isfile(root + r), "%s: %s is not mounted in the %s" % (key, r, role))
            for sec in re.findall(r'(?:client_secret|pfx_password|key)\s*=\s*"([^"]*)"', text):
                expect(sec.startswith(("file:", "env:")),
                       "%s: a secret is inline, not a file:/env: reference" % key)
            expect(find(docs, "Secret", "rostersync-tenant-" + key[:-5]),
                   "no Secret rostersync-tenant-%s" % key[:-5])


def main():
    a = sys.argv[1:]
    if a[:1] == ["conf-get"] and len(a) == 3:
        print(conf_parse(a[1]).get(a[2], ""))
        return
    if a[:1] == ["compose"] and len(a) == 4:
        check_compose(a[1], a[2], a[3])
    elif a[:1] == ["dockerfile"] and len(a) >= 3:
        check_dockerfile(a[1], a[2:])
    elif a[:1] == ["k8s-fs"] and len(a) == 4:
        k8s_fs(a[1], a[2], a[3])
    elif a[:1] == ["k8s"] and len(a) == 6:
        check_k8s(a[1], a[2], a[3], a[4], a[5])
    else:
        print(__doc__)
        sys.exit(2)
    done()


if __name__ == "__main__":
    main()
