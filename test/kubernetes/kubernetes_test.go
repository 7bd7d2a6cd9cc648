// Package kubernetes tests the Kustomize manifests in deploy/kubernetes: the
// base, the overlays and the sharded component are rendered with Kustomize's
// own Go API, every object is decoded strictly into the Kubernetes and
// prometheus-operator API types (an unknown or misspelt field fails, as the
// API server's strict field validation would), and what matters is checked:
// the restricted Pod Security fields, the probes, the config mounted as a
// directory so that it hot-reloads, each overlay's config accepted by
// authprobe's own loader with its location and targets, and the
// PrometheusRule holding exactly the generated rules, which promtool accepts.
package kubernetes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/authprobe/authprobe/config"
	"github.com/authprobe/authprobe/internal/alerting"
	"github.com/authprobe/authprobe/internal/testtool"
	"github.com/authprobe/authprobe/probes"
	_ "github.com/authprobe/authprobe/probes/kinds"
)

const (
	deploy = "../../deploy/kubernetes"
	port   = 9741
)

// kustomizations are every deployable variant, with the location and API
// addresses its config must resolve to, and its number of shards (0: a
// Deployment of one replica).
var kustomizations = []struct {
	name, dir        string
	location, target string
	shards           int
}{
	{name: "base", dir: deploy + "/base", location: "default", target: "api-headless.api.svc.cluster.local:443"},
	{name: "eu-west", dir: deploy + "/overlays/eu-west", location: "eu-west-1", target: "api-headless.eu-west-1.internal.example.com:443"},
	{name: "us-east", dir: deploy + "/overlays/us-east", location: "us-east-1", target: "api-headless.us-east-1.internal.example.com:443"},
	{name: "sharded", dir: "testdata/sharded", location: "eu-west-1", target: "api-headless.eu-west-1.internal.example.com:443", shards: 3},
}

// objects is one rendered kustomization, decoded.
type objects struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	services        []*corev1.Service
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	rules           []*monitoringv1.PrometheusRule
}

// render builds the kustomization in dir as `kubectl apply -k` would, and
// decodes every object strictly into its API type.
func render(t *testing.T, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range resources.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		id := r.GetKind() + "/" + r.GetName()
		var into any
		wantAPI := "v1"
		switch r.GetKind() {
		case "Namespace":
			v := &corev1.Namespace{}
			o.namespaces, into = append(o.namespaces, v), v
		case "ServiceAccount":
			v := &corev1.ServiceAccount{}
			o.serviceAccounts, into = append(o.serviceAccounts, v), v
		case "ConfigMap":
			v := &corev1.ConfigMap{}
			o.configMaps[r.GetName()], into = v, v
		case "Service":
			v := &corev1.Service{}
			o.services, into = append(o.services, v), v
		case "Deployment":
			v := &appsv1.Deployment{}
			o.deployments, into, wantAPI = append(o.deployments, v), v, "apps/v1"
		case "StatefulSet":
			v := &appsv1.StatefulSet{}
			o.statefulSets, into, wantAPI = append(o.statefulSets, v), v, "apps/v1"
		case "PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			o.pdbs, into, wantAPI = append(o.pdbs, v), v, "policy/v1"
		case "NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			o.netpols, into, wantAPI = append(o.netpols, v), v, "networking.k8s.io/v1"
		case "ServiceMonitor":
			v := &monitoringv1.ServiceMonitor{}
			o.serviceMonitors, into, wantAPI = append(o.serviceMonitors, v), v, "monitoring.coreos.com/v1"
		case "PrometheusRule":
			v := &monitoringv1.PrometheusRule{}
			o.rules, into, wantAPI = append(o.rules, v), v, "monitoring.coreos.com/v1"
		default:
			t.Errorf("%s: %s is a kind this test does not know; decode it strictly too", dir, id)
			continue
		}
		if got := r.GetApiVersion(); got != wantAPI {
			t.Errorf("%s: %s has apiVersion %s, want %s", dir, id, got, wantAPI)
		}
		decodeStrict(t, id, b, into)
	}
	return o
}

// decodeStrict decodes JSON the way the API server's strict field
// validation does: unknown fields, duplicate fields and fields whose case
// differs from the API's are errors.
func decodeStrict(t *testing.T, what string, b []byte, into any) {
	t.Helper()
	strict, err := sigsjson.UnmarshalStrict(b, into)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
	for _, e := range strict {
		t.Errorf("%s: %v", what, e)
	}
}

// The decoding refuses what the API server's strict field validation
// refuses, so a misspelt field in a manifest fails these tests.
func TestDecodeStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": `{"spec":{"replica":1}}`,
		"wrong case":    `{"spec":{"template":{"spec":{"securityContext":{"runAsNonroot":true}}}}}`,
		"duplicate":     `{"spec":{"replicas":1,"replicas":2}}`,
	} {
		t.Run(name, func(t *testing.T) {
			strict, err := sigsjson.UnmarshalStrict([]byte(doc), &appsv1.Deployment{})
			if err == nil && len(strict) == 0 {
				t.Errorf("%s was accepted", doc)
			}
		})
	}
}

// pod is the one workload of a rendered kustomization: the Deployment, or
// the StatefulSet of the sharded component.
func (o *objects) pod(t *testing.T) (*corev1.PodTemplateSpec, *int32) {
	t.Helper()
	switch {
	case len(o.deployments) == 1 && len(o.statefulSets) == 0:
		return &o.deployments[0].Spec.Template, o.deployments[0].Spec.Replicas
	case len(o.statefulSets) == 1 && len(o.deployments) == 0:
		return &o.statefulSets[0].Spec.Template, o.statefulSets[0].Spec.Replicas
	}
	t.Fatalf("want one Deployment or one StatefulSet, got %d and %d", len(o.deployments), len(o.statefulSets))
	return nil, nil
}

func container(t *testing.T, pod *corev1.PodTemplateSpec) *corev1.Container {
	t.Helper()
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	return &pod.Spec.Containers[0]
}

func TestManifests(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k.name, func(t *testing.T) {
			o := render(t, k.dir)
			pod, replicas := o.pod(t)
			c := container(t, pod)

			t.Run("restricted pod security", func(t *testing.T) { checkRestricted(t, pod, c) })
			t.Run("probes and ports", func(t *testing.T) { checkProbes(t, o, c) })
			t.Run("config volume hot-reloads", func(t *testing.T) { checkConfigVolume(t, o, pod, c) })
			t.Run("resources", func(t *testing.T) { checkResources(t, c) })
			t.Run("selectors", func(t *testing.T) { checkSelectors(t, o, pod) })
			t.Run("network policy", func(t *testing.T) { checkNetworkPolicy(t, o) })
			t.Run("service monitor", func(t *testing.T) { checkServiceMonitor(t, o) })
			t.Run("prometheus rule", func(t *testing.T) {
				if len(o.rules) != 1 {
					t.Fatalf("want one PrometheusRule, got %d", len(o.rules))
				}
				checkRules(t, o.rules[0])
			})
			t.Run("config", func(t *testing.T) { checkConfig(t, o, pod, c, k.location, k.target) })

			if k.shards == 0 {
				if len(o.deployments) != 1 || *replicas != 1 {
					t.Errorf("want a Deployment of 1 replica")
				}
				return
			}
			t.Run("shards", func(t *testing.T) { checkShards(t, o, c, *replicas, k.shards) })
		})
	}
}

func checkRestricted(t *testing.T, pod *corev1.PodTemplateSpec, c *corev1.Container) {
	ps := pod.Spec.SecurityContext
	if ps == nil {
		t.Fatal("the pod has no securityContext")
	}
	is := func(what string, p *bool, want bool) {
		t.Helper()
		if p == nil || *p != want {
			t.Errorf("%s is %v, want %v", what, deref(p), want)
		}
	}
	id := func(what string, p *int64) {
		t.Helper()
		if p == nil || *p != 65532 {
			t.Errorf("%s is %v, want 65532", what, deref(p))
		}
	}
	is("pod runAsNonRoot", ps.RunAsNonRoot, true)
	id("pod runAsUser", ps.RunAsUser)
	id("pod runAsGroup", ps.RunAsGroup)
	if ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile is %+v, want RuntimeDefault", ps.SeccompProfile)
	}
	is("pod automountServiceAccountToken", pod.Spec.AutomountServiceAccountToken, false)
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		t.Error("the pod shares a host namespace")
	}

	cs := c.SecurityContext
	if cs == nil {
		t.Fatal("the container has no securityContext")
	}
	is("allowPrivilegeEscalation", cs.AllowPrivilegeEscalation, false)
	is("readOnlyRootFilesystem", cs.ReadOnlyRootFilesystem, true)
	if cs.Privileged != nil && *cs.Privileged {
		t.Error("the container is privileged")
	}
	if cs.Capabilities == nil || !reflect.DeepEqual(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) > 0 {
		t.Errorf("capabilities are %+v, want drop [ALL] and no add", cs.Capabilities)
	}
	if cs.RunAsUser != nil && *cs.RunAsUser == 0 {
		t.Error("the container runs as root")
	}
	// The restricted profile allows only these volume types.
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.EmptyDir == nil && v.Projected == nil && v.DownwardAPI == nil {
			t.Errorf("volume %s is of a type the restricted profile refuses", v.Name)
		}
	}
	// The read-only root needs a writable /tmp.
	var tmp bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/tmp" {
			tmp = volume(t, pod, m.Name).EmptyDir != nil
		}
	}
	if !tmp {
		t.Error("no emptyDir at /tmp")
	}
}

func checkProbes(t *testing.T, o *objects, c *corev1.Container) {
	if !strings.HasPrefix(c.Image, "ghcr.io/authprobe/authprobe:v") {
		t.Errorf("image %s is not a pinned ghcr.io/authprobe/authprobe:vX.Y.Z", c.Image)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != port {
		t.Errorf("container ports %+v, want http %d", c.Ports, port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/-/healthy"}, {"readiness", c.ReadinessProbe, "/-/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port != intstr.FromString("http") {
			t.Errorf("%s probe is %s on %s, want %s on http", p.name, g.Path, g.Port.String(), p.path)
		}
	}
	if len(o.services) != 1 {
		t.Fatalf("want one Service, got %d", len(o.services))
	}
	s := o.services[0]
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "http" || s.Spec.Ports[0].Port != port || s.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v, want http %d → http", s.Spec.Ports, port)
	}
	if len(o.serviceAccounts) != 1 {
		t.Fatalf("want one ServiceAccount, got %d", len(o.serviceAccounts))
	}
	if sa := o.serviceAccounts[0]; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount mounts its token")
	}
}

// configPath is the --config the container runs with. It must be an
// argument: the image's CMD passes --config, which would win over an
// AUTHPROBE_CONFIG variable.
func configPath(t *testing.T, c *corev1.Container) string {
	t.Helper()
	if len(c.Command) > 0 || len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("command %q args %q: want the image's entrypoint with args [run --config=...]", c.Command, c.Args)
	}
	for i, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v
		}
		if (a == "--config" || a == "-c") && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
	}
	t.Fatalf("args %q have no --config", c.Args)
	return ""
}

func checkConfigVolume(t *testing.T, o *objects, pod *corev1.PodTemplateSpec, c *corev1.Container) {
	path := configPath(t, c)
	var found bool
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("volume %s is mounted with subPath: it would never see a ConfigMap or Secret update", m.Name)
		}
		if filepath.Dir(path) != m.MountPath {
			continue
		}
		found = true
		v := volume(t, pod, m.Name)
		if v.ConfigMap == nil {
			t.Fatalf("the config directory %s is not a ConfigMap volume", m.MountPath)
		}
		cm := o.configMaps[v.ConfigMap.Name]
		if cm == nil {
			t.Fatalf("the config volume names ConfigMap %s, which the kustomization does not render", v.ConfigMap.Name)
		}
		// A hash suffix would make every config change a rolling restart
		// instead of a reload.
		if cm.Name != "authprobe-config" {
			t.Errorf("the config ConfigMap is %s: no hash suffix wanted (disableNameSuffixHash)", cm.Name)
		}
		if _, ok := cm.Data[filepath.Base(path)]; !ok {
			t.Errorf("ConfigMap %s has no key %s", cm.Name, filepath.Base(path))
		}
		if len(v.ConfigMap.Items) > 0 {
			t.Error("the config volume lists items; mount the whole ConfigMap")
		}
	}
	if !found {
		t.Errorf("--config=%s is not in a mounted directory", path)
	}
}

func checkResources(t *testing.T, c *corev1.Container) {
	r := c.Resources
	req, lim := r.Requests.Memory().Value(), r.Limits.Memory().Value()
	if req < 32<<20 || lim < req || lim > 1<<30 {
		t.Errorf("memory request %d, limit %d: want 32 MiB ≤ request ≤ limit ≤ 1 GiB for authprobe without browsers", req, lim)
	}
	if r.Requests.Cpu().IsZero() {
		t.Error("no CPU request")
	}
	if !r.Limits.Cpu().IsZero() {
		t.Error("a CPU limit throttles runs into false timeouts; the base sets none")
	}
	// GOMEMLIMIT is in bytes or with a binary unit and B (230MiB).
	g, err := resource.ParseQuantity(strings.TrimSuffix(env(c, "GOMEMLIMIT"), "B"))
	if err != nil || g.Value() >= lim || g.Value() < lim*3/4 {
		t.Errorf("GOMEMLIMIT=%q (%v), want 75–100 %% of the memory limit %d", env(c, "GOMEMLIMIT"), err, lim)
	}
}

func checkSelectors(t *testing.T, o *objects, pod *corev1.PodTemplateSpec) {
	matches := func(what string, sel map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s selects nothing in particular", what)
		}
		for k, v := range sel {
			if pod.Labels[k] != v {
				t.Errorf("%s selects %s=%s; the pods have %v", what, k, v, pod.Labels)
			}
		}
	}
	for _, s := range o.services {
		matches("Service "+s.Name, s.Spec.Selector)
	}
	if len(o.pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget, got %d", len(o.pdbs))
	}
	p := o.pdbs[0]
	matches("PodDisruptionBudget", p.Spec.Selector.MatchLabels)
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 || p.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget wants maxUnavailable 1 (minAvailable would block drains of one replica), got %+v", p.Spec)
	}
	for _, n := range o.netpols {
		matches("NetworkPolicy", n.Spec.PodSelector.MatchLabels)
	}
	if len(o.namespaces) != 1 || o.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("want one Namespace enforcing the restricted Pod Security profile")
	}
}

func checkNetworkPolicy(t *testing.T, o *objects) {
	if len(o.netpols) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(o.netpols))
	}
	n := o.netpols[0]
	if !slices.Equal(n.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v, want Ingress and Egress", n.Spec.PolicyTypes)
	}
	if len(n.Spec.Ingress) != 1 {
		t.Fatalf("want one ingress rule, got %d", len(n.Spec.Ingress))
	}
	in := n.Spec.Ingress[0]
	if len(in.Ports) != 1 || *in.Ports[0].Port != intstr.FromString("http") || *in.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ingress ports %+v, want http/TCP only", in.Ports)
	}
	if len(in.From) != 1 || in.From[0].NamespaceSelector == nil || in.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
		in.From[0].PodSelector == nil || len(in.From[0].PodSelector.MatchLabels) == 0 {
		t.Errorf("ingress from %+v, want the Prometheus pods of the monitoring namespace", in.From)
	}
	var egress []string
	for _, e := range n.Spec.Egress {
		if len(e.To) != 0 {
			t.Errorf("egress rule %+v is limited to some destinations; targets can be anywhere", e)
		}
		for _, p := range e.Ports {
			egress = append(egress, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
		}
	}
	slices.Sort(egress)
	if want := []string{"443/TCP", "53/TCP", "53/UDP", "80/TCP"}; !slices.Equal(egress, want) {
		t.Errorf("egress to %v, want %v", egress, want)
	}
}

func checkServiceMonitor(t *testing.T, o *objects) {
	if len(o.serviceMonitors) != 1 || len(o.services) != 1 {
		t.Fatalf("want one ServiceMonitor and one Service, got %d and %d", len(o.serviceMonitors), len(o.services))
	}
	sm, svc := o.serviceMonitors[0], o.services[0]
	// The shipped rules' AuthProberDown matches up{job="authprobe"}.
	if job := svc.Labels[sm.Spec.JobLabel]; sm.Spec.JobLabel == "" || job != alerting.Shipped.Job {
		t.Errorf("ServiceMonitor jobLabel %q gives job=%q, want %q", sm.Spec.JobLabel, job, alerting.Shipped.Job)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Labels)
		}
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(sm.Spec.Endpoints))
	}
	if e := sm.Spec.Endpoints[0]; e.Port != "http" || e.Interval != "15s" || e.Path != "/metrics" {
		t.Errorf("endpoint %s %s every %s, want http /metrics every 15s", e.Port, e.Path, e.Interval)
	}
	if len(o.rules) == 1 && sm.Labels["release"] != o.rules[0].Labels["release"] {
		t.Errorf("the ServiceMonitor and the PrometheusRule carry different release labels: %q, %q", sm.Labels["release"], o.rules[0].Labels["release"])
	}
}

// checkRules compares the PrometheusRule with the generated rule groups: it
// cannot drift from deploy/prometheus/authprobe-rules.yaml.
func checkRules(t *testing.T, pr *monitoringv1.PrometheusRule) {
	if pr.Name != "authprobe" {
		t.Errorf("PrometheusRule is named %s, want authprobe", pr.Name)
	}
	for k, v := range alerting.PrometheusRuleLabels {
		if pr.Labels[k] != v {
			t.Errorf("PrometheusRule label %s=%q, want %q", k, pr.Labels[k], v)
		}
	}
	var got []alerting.Group
	for _, g := range pr.Spec.Groups {
		ag := alerting.Group{Name: g.Name, Interval: durString(g.Interval)}
		for _, r := range g.Rules {
			ag.Rules = append(ag.Rules, alerting.Rule{Record: r.Record, Alert: r.Alert, Expr: r.Expr.String(),
				For: durString(r.For), KeepFiringFor: keepString(r.KeepFiringFor), Labels: nilIfEmpty(r.Labels), Annotations: nilIfEmpty(r.Annotations)})
		}
		got = append(got, ag)
	}
	want := alerting.Groups(alerting.Shipped)
	for _, g := range want {
		for i := range g.Rules {
			g.Rules[i].Labels, g.Rules[i].Annotations = nilIfEmpty(g.Rules[i].Labels), nilIfEmpty(g.Rules[i].Annotations)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the PrometheusRule's groups differ from alerting.Groups(alerting.Shipped); run make generate")
	}
}

// The rules of the PrometheusRule, taken out as a rule file, pass promtool.
func TestPrometheusRulePromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	o := render(t, deploy+"/base")
	if len(o.rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(o.rules))
	}
	b, err := yaml.Marshal(map[string]any{"groups": o.rules[0].Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

var fileRef = regexp.MustCompile(`\$\{file:([^}]+)\}`)

// checkConfig loads the rendered config the way `authprobe check` does, in
// a copy of the pod's file system: the mounted ConfigMap, the example Secret
// as the secret volume, and the container's environment.
func checkConfig(t *testing.T, o *objects, pod *corev1.PodTemplateSpec, c *corev1.Container, location, target string) {
	secret := exampleSecret(t)
	root := t.TempDir()
	for _, m := range c.VolumeMounts {
		v := volume(t, pod, m.Name)
		files := map[string]string{}
		switch {
		case v.ConfigMap != nil:
			cm := o.configMaps[v.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("volume %s names ConfigMap %s, which is not rendered", m.Name, v.ConfigMap.Name)
			}
			files = cm.Data
		case v.Secret != nil:
			if v.Secret.SecretName != secret.Name {
				t.Fatalf("volume %s names Secret %s; secret.example.yaml is %s", m.Name, v.Secret.SecretName, secret.Name)
			}
			files = secret.StringData
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, v := range files {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			t.Setenv(e.Name, e.Value)
		}
	}
	var site *corev1.ConfigMap
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps expected", from)
		}
		site = o.configMaps[from.ConfigMapRef.Name]
		if site == nil {
			t.Fatalf("envFrom names ConfigMap %s, which is not rendered", from.ConfigMapRef.Name)
		}
		for k, v := range site.Data {
			t.Setenv(k, v)
		}
	}
	// The environment is read only at start: that ConfigMap must roll the
	// pods when it changes, so it keeps its hash suffix.
	if site == nil || !regexp.MustCompile(`^authprobe-site-[a-z0-9]{10}$`).MatchString(site.Name) {
		t.Errorf("want the environment from authprobe-site with a hash suffix, got %v", site)
	} else if site.Data["PROBE_LOCATION"] != location || site.Data["PROBE_API_TARGETS"] != target {
		t.Errorf("%s sets location %q and targets %q, want %q and %q", site.Name, site.Data["PROBE_LOCATION"], site.Data["PROBE_API_TARGETS"], location, target)
	}

	// Every secret file the config reads is a key of the Secret.
	path := filepath.Join(root, configPath(t, c))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secretDir := ""
	for _, m := range c.VolumeMounts {
		if volume(t, pod, m.Name).Secret != nil {
			secretDir = m.MountPath
		}
	}
	for _, m := range fileRef.FindAllStringSubmatch(string(raw), -1) {
		if filepath.Dir(m[1]) != secretDir {
			t.Errorf("%s is not in the secret volume %s", m[0], secretDir)
		} else if _, ok := secret.StringData[filepath.Base(m[1])]; !ok {
			t.Errorf("%s: secret.example.yaml has no key %s", m[0], filepath.Base(m[1]))
		}
	}
	// The pod's absolute paths, under root.
	moved := strings.ReplaceAll(string(raw), "${file:/", "${file:"+root+"/")
	if err := os.WriteFile(path, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("authprobe check would refuse the config:\n%v", err)
	}
	journeys, err := probes.Compile(cfg)
	if err != nil {
		t.Fatalf("authprobe check would refuse the config:\n%v", err)
	}
	if cfg.Global.Location != location {
		t.Errorf("location %q, want %q", cfg.Global.Location, location)
	}
	var targets []string
	for _, j := range journeys {
		if j.Targets != nil {
			targets = append(targets, j.Targets.DNS)
		}
	}
	if !slices.Equal(targets, []string{target}) {
		t.Errorf("targets %v, want [%s]", targets, target)
	}
	if len(cfg.Secrets) == 0 {
		t.Error("no secret was resolved")
	}
}

// exampleSecret decodes secret.example.yaml, which is not in the
// kustomization but documents the Secret's name and keys.
func exampleSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	b, err := os.ReadFile(deploy + "/base/secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	decodeStrict(t, "secret.example.yaml", j, s)
	if len(s.StringData) == 0 {
		t.Fatal("secret.example.yaml has no stringData")
	}
	for k, v := range s.StringData {
		if !strings.HasPrefix(v, "DUMMY") {
			t.Errorf("secret.example.yaml: %s is not marked as a dummy value", k)
		}
	}
	return s
}

// checkShards checks the StatefulSet of components/sharded: as many pods as
// the N of --shard=INDEX/N, and the index from the pod-index label.
func checkShards(t *testing.T, o *objects, c *corev1.Container, replicas int32, want int) {
	if len(o.statefulSets) != 1 || len(o.deployments) != 0 {
		t.Fatalf("want the Deployment turned into a StatefulSet")
	}
	if replicas != int32(want) {
		t.Errorf("%d replicas, want %d", replicas, want)
	}
	if got := env(c, "AUTHPROBE_SHARD"); got != fmt.Sprintf("$(POD_INDEX)/%d", replicas) {
		t.Errorf("AUTHPROBE_SHARD=%q, want $(POD_INDEX)/%d", got, replicas)
	}
	idx := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_INDEX" })
	shard := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AUTHPROBE_SHARD" })
	if idx < 0 || idx > shard {
		t.Fatal("POD_INDEX must be set before AUTHPROBE_SHARD refers to it")
	}
	if f := c.Env[idx].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("POD_INDEX is %+v, want the label apps.kubernetes.io/pod-index", c.Env[idx])
	}
}

func volume(t *testing.T, pod *corev1.PodTemplateSpec, name string) *corev1.Volume {
	t.Helper()
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	t.Fatalf("no volume %s", name)
	return nil
}

func env(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func durString(d *monitoringv1.Duration) string {
	if d == nil {
		return ""
	}
	return string(*d)
}

func keepString(d *monitoringv1.NonEmptyDuration) string {
	if d == nil {
		return ""
	}
	return string(*d)
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// tool finds a program from Debian's packages. CI installs them (.ci/run);
// elsewhere a missing one skips with the command that installs it.
func tool(t *testing.T, name string) string {
	return testtool.Require(t, name, "prometheus")
}
