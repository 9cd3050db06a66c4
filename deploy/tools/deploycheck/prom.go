package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/dns" // dns_sd_configs, used by the compose stack
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// runProm loads prometheus.yml with Prometheus's own config loader, every rules file with its
// rule-file validator, and parses every PromQL expression of the Grafana dashboards (Grafana's
// variables replaced by plausible values first).
func runProm(args []string) error {
	fs := flag.NewFlagSet("prom", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "prometheus.yml")
	rulesDir := fs.String("rules", "", "folder of *.yml rule files")
	dashDir := fs.String("dashboards", "", "folder of Grafana dashboard *.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := parser.NewParser(parser.Options{})
	var problems []string

	if *cfgFile != "" {
		cfg, err := config.LoadFile(*cfgFile, false, logger)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			fmt.Printf("prom: %s is valid: %d scrape configs, rule files %v\n", *cfgFile, len(cfg.ScrapeConfigs), cfg.RuleFiles)
		}
	}
	if *rulesDir != "" {
		files, _ := filepath.Glob(filepath.Join(*rulesDir, "*.yml"))
		if len(files) == 0 {
			problems = append(problems, "no rule files in "+*rulesDir)
		}
		for _, f := range files {
			groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, logger)
			for _, e := range errs {
				problems = append(problems, e.Error())
			}
			if len(errs) == 0 {
				n := 0
				for _, g := range groups.Groups {
					n += len(g.Rules)
				}
				fmt.Printf("prom: %s is valid: %d groups, %d rules\n", f, len(groups.Groups), n)
			}
		}
	}
	if *dashDir != "" {
		files, _ := filepath.Glob(filepath.Join(*dashDir, "*.json"))
		for _, f := range files {
			exprs, err := dashboardExprs(f)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			for _, e := range exprs {
				if _, err := p.ParseExpr(grafanaToPromQL(e.expr)); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s: %q: %v", f, e.where, e.expr, err))
				}
			}
			fmt.Printf("prom: %s: %d PromQL expressions parsed\n", f, len(exprs))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	return nil
}

var (
	grafanaRange = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)
	grafanaVar   = regexp.MustCompile(`\$\{\w+(:\w+)?\}|\$\w+`)
	labelValues  = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*(,\s*\w+\s*)?\)\s*$`)
)

// grafanaToPromQL replaces Grafana's interval macros with a duration and other variables with a
// regex that matches anything (they are only used inside =~ matchers in these dashboards).
func grafanaToPromQL(expr string) string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	expr = grafanaRange.ReplaceAllString(expr, "5m")
	return grafanaVar.ReplaceAllString(expr, ".*")
}

type located struct{ where, expr string }

func dashboardExprs(path string) ([]located, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var board struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Datasource json.RawMessage `json:"datasource"`
				Query      json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &board); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []located
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, pn := range ps {
			for _, t := range pn.Targets {
				ds := t.Datasource
				if ds == nil {
					ds = pn.Datasource
				}
				if ds != nil && ds.Type == "prometheus" && t.Expr != "" {
					out = append(out, located{fmt.Sprintf("panel %q target %s", pn.Title, t.RefID), t.Expr})
				}
			}
			walk(pn.Panels)
		}
	}
	walk(board.Panels)
	for _, v := range board.Templating.List {
		var ds struct{ Type string }
		_ = json.Unmarshal(v.Datasource, &ds)
		if v.Type != "query" || ds.Type != "prometheus" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
			var s string
			if json.Unmarshal(v.Query, &s) == nil {
				q.Query = s
			}
		}
		if q.Query != "" {
			out = append(out, located{"variable " + v.Name, q.Query})
		}
	}
	return out, nil
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}
