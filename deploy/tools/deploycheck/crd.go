package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// runCRD validates the prometheus-operator objects in multi-document YAML files (typically
// `helm template` output): each ServiceMonitor and PrometheusRule is decoded strictly into the
// operator's own Go types, so unknown or mistyped fields fail as they would against the CRD's
// structural schema, and each PrometheusRule's groups go through Prometheus's rule-file
// validation (PromQL, names, templates). Other kinds are ignored.
func runCRD(files []string) error {
	if len(files) == 0 {
		return errors.New("no files given")
	}
	var problems []string
	counts := map[string]int{}
	for _, f := range files {
		docs, err := splitYAML(f)
		if err != nil {
			return err
		}
		for i, doc := range docs {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				problems = append(problems, fmt.Sprintf("%s doc %d: %v", f, i+1, err))
				continue
			}
			where := fmt.Sprintf("%s: %s/%s", f, head.Kind, head.Metadata.Name)
			if !strings.HasPrefix(head.APIVersion, "monitoring.coreos.com/") {
				continue
			}
			if head.APIVersion != "monitoring.coreos.com/v1" {
				problems = append(problems, fmt.Sprintf("%s: unexpected apiVersion %s", where, head.APIVersion))
				continue
			}
			switch head.Kind {
			case "ServiceMonitor":
				var sm monitoringv1.ServiceMonitor
				if err := yaml.UnmarshalStrict(doc, &sm); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", where, err))
					continue
				}
				if len(sm.Spec.Endpoints) == 0 {
					problems = append(problems, where+": no endpoints")
				}
				if len(sm.Spec.Selector.MatchLabels) == 0 && len(sm.Spec.Selector.MatchExpressions) == 0 {
					problems = append(problems, where+": empty selector would match every Service")
				}
				for j, ep := range sm.Spec.Endpoints {
					if ep.Port == "" && ep.TargetPort == nil {
						problems = append(problems, fmt.Sprintf("%s: endpoint %d has neither port nor targetPort", where, j))
					}
				}
			case "PrometheusRule":
				var pr monitoringv1.PrometheusRule
				if err := yaml.UnmarshalStrict(doc, &pr); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", where, err))
					continue
				}
				if errs := validateRuleGroups(pr.Spec); len(errs) > 0 {
					for _, e := range errs {
						problems = append(problems, fmt.Sprintf("%s: %v", where, e))
					}
				}
			default:
				problems = append(problems, fmt.Sprintf("%s: no validator for kind %s", where, head.Kind))
				continue
			}
			counts[head.Kind]++
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	fmt.Printf("crd: valid ServiceMonitor: %d, PrometheusRule: %d\n", counts["ServiceMonitor"], counts["PrometheusRule"])
	return nil
}

func validateRuleGroups(spec monitoringv1.PrometheusRuleSpec) []error {
	content, err := yaml.Marshal(spec) // {groups: [...]}, the rule-file shape
	if err != nil {
		return []error{err}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, errs := rulefmt.Parse(content, false, model.UTF8Validation, parser.NewParser(parser.Options{}), logger)
	return errs
}

// splitYAML returns the non-empty documents of a multi-document YAML file.
func splitYAML(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yamlv3.NewDecoder(bufio.NewReader(f))
	var docs [][]byte
	for {
		var node yamlv3.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var buf bytes.Buffer
		enc := yamlv3.NewEncoder(&buf)
		if err := enc.Encode(&node); err != nil {
			return nil, err
		}
		if b := bytes.TrimSpace(buf.Bytes()); len(b) > 0 && string(b) != "null" {
			docs = append(docs, buf.Bytes())
		}
	}
}
