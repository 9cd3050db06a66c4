package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// runCompose loads a compose file the way `docker compose config` does (schema validation,
// interpolation, normalization, consistency), with every profile enabled, then checks what
// compose itself leaves to run time: bind-mount sources and build files exist, health-gated
// dependencies have health checks, and the services meant to be scaled can be.
func runCompose(args []string) error {
	fs := flag.NewFlagSet("compose", flag.ContinueOnError)
	file := fs.String("f", "docker-compose.yml", "compose file")
	envFile := fs.String("env-file", "", "env file used for interpolation (like --env-file)")
	scalable := fs.String("scalable", "", "comma-separated services that must support --scale")
	out := fs.String("o", "", "write the resolved model (YAML) here")
	envOut := fs.String("env-out", "", "write each service's resolved environment (JSON) here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*file)
	if err != nil {
		return err
	}
	dir := filepath.Dir(abs)
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithProfiles([]string{"*"}),
	}
	if *envFile != "" {
		// Only the given file: the caller's environment must not hide a missing variable.
		opts = append(opts, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	po, err := cli.NewProjectOptions([]string{abs}, opts...)
	if err != nil {
		return err
	}
	project, err := po.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}

	var problems []string
	report := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	want := map[string]bool{}
	for _, s := range strings.Split(*scalable, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}

	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := project.Services[name]
		if svc.Image == "" && svc.Build == nil {
			report("service %s: neither image nor build", name)
		}
		if svc.Build != nil {
			ctx := svc.Build.Context
			if _, err := os.Stat(ctx); err != nil {
				report("service %s: build context %s: %v", name, ctx, err)
			}
			df := svc.Build.Dockerfile
			if df != "" && !filepath.IsAbs(df) {
				df = filepath.Join(ctx, df)
			}
			if df != "" {
				if _, err := os.Stat(df); err != nil {
					report("service %s: dockerfile %s: %v", name, df, err)
				}
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					report("service %s: bind mount source %s: %v", name, v.Source, err)
				}
			}
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				if _, ok := project.Volumes[v.Source]; !ok {
					report("service %s: named volume %s is not declared", name, v.Source)
				}
			}
		}
		for dep, cond := range svc.DependsOn {
			target, ok := project.Services[dep]
			if !ok {
				if _, disabled := project.DisabledServices[dep]; !disabled {
					report("service %s: depends on unknown service %s", name, dep)
				}
				continue
			}
			switch cond.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0 {
					report("service %s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != "no" {
					report("service %s: waits for %s to complete, but %s restarts (%s)", name, dep, dep, target.Restart)
				}
			}
			if len(target.Profiles) > 0 && len(svc.Profiles) == 0 {
				report("service %s (no profile) depends on %s, which is only in profiles %v", name, dep, target.Profiles)
			}
		}
		if want[name] {
			if svc.ContainerName != "" {
				report("service %s: container_name %q prevents --scale", name, svc.ContainerName)
			}
			for _, p := range svc.Ports {
				if p.Published != "" {
					report("service %s: published host port %s prevents --scale", name, p.Published)
				}
			}
			delete(want, name)
		}
	}
	for name := range want {
		report("service %s (expected to be scalable) does not exist", name)
	}

	if *out != "" {
		b, err := project.MarshalYAML()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	}
	if *envOut != "" {
		envs := map[string]map[string]string{}
		for _, name := range names {
			env := map[string]string{}
			for k, v := range project.Services[name].Environment {
				if v != nil {
					env[k] = *v
				} else {
					env[k] = ""
				}
			}
			envs["compose:"+name] = env
		}
		b, err := json.MarshalIndent(envs, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*envOut, b, 0o644); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n  "))
	}
	fmt.Printf("compose: %s is valid: %d services (%s), %d volumes, profiles %v\n",
		*file, len(names), strings.Join(names, ", "), len(project.Volumes), project.AllServices().GetProfiles())
	return nil
}
