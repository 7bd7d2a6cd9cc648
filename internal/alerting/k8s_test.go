package alerting

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The PrometheusRule holds exactly the groups of the rule file, shipped or
// time-scaled. test/kubernetes checks the committed manifest against the
// prometheus-operator's types and promtool.
func TestPrometheusRuleFile(t *testing.T) {
	scaled := Shipped
	scaled.Scale = 20
	for name, o := range map[string]Options{"shipped": Shipped, "scaled": scaled} {
		t.Run(name, func(t *testing.T) {
			b, err := PrometheusRuleFile(o)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name   string            `yaml:"name"`
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Groups []Group `yaml:"groups"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.APIVersion != "monitoring.coreos.com/v1" || got.Kind != "PrometheusRule" || got.Metadata.Name != "authprobe" {
				t.Errorf("got %s %s %q, want monitoring.coreos.com/v1 PrometheusRule \"authprobe\"", got.APIVersion, got.Kind, got.Metadata.Name)
			}
			if !reflect.DeepEqual(got.Metadata.Labels, PrometheusRuleLabels) {
				t.Errorf("labels %v, want %v", got.Metadata.Labels, PrometheusRuleLabels)
			}
			if want := Groups(o); !reflect.DeepEqual(got.Spec.Groups, want) {
				t.Errorf("the PrometheusRule's groups differ from Groups(o):\n%s", b)
			}
		})
	}
}
