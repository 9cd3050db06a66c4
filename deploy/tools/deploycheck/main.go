// Command deploycheck validates Seatmeter's deployment files without Docker, Kubernetes or
// Prometheus running: it uses the same Go libraries those tools use to read their files.
//
//	deploycheck compose -f deploy/docker-compose.yml --env-file deploy/.env.example
//	deploycheck crd rendered.yaml...      # ServiceMonitor / PrometheusRule from `helm template`
//	deploycheck k8s-env rendered.yaml...  # JSON: the environment of every rendered container
//	deploycheck prom --config deploy/prometheus/prometheus.yml --rules deploy/prometheus/rules \
//	    --dashboards deploy/grafana/dashboards
//
// Every subcommand prints what it checked and exits 1 on the first file with problems.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "compose":
		err = runCompose(os.Args[2:])
	case "crd":
		err = runCRD(os.Args[2:])
	case "prom":
		err = runProm(os.Args[2:])
	case "k8s-env":
		err = runK8sEnv(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "deploycheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: deploycheck compose|crd|k8s-env|prom [flags] (see the package comment)")
	os.Exit(2)
}
