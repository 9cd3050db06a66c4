package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// secretPlaceholder stands for a value that comes from a Secret at run time.
const secretPlaceholder = "<from-secret>"

// runK8sEnv prints, as JSON, the environment every container of the rendered manifests gets:
// its env entries (values from Secrets or the downward API become placeholders) plus the data of
// the ConfigMaps named in envFrom, which must be in the same file. Keys are
// "k8s:<file>:<Kind>/<name>/<container>". The caller checks these against the settings model.
func runK8sEnv(files []string) error {
	if len(files) == 0 {
		return errors.New("no files given")
	}
	type envVar struct {
		Name      string          `json:"name"`
		Value     *string         `json:"value"`
		ValueFrom json.RawMessage `json:"valueFrom"`
	}
	type container struct {
		Name    string   `json:"name"`
		Env     []envVar `json:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `json:"name"`
			} `json:"configMapRef"`
			SecretRef *struct {
				Name string `json:"name"`
			} `json:"secretRef"`
		} `json:"envFrom"`
	}
	type podSpec struct {
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	}
	type object struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
		Spec struct {
			Template struct {
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	type located struct {
		file string
		obj  object
	}
	var objects []located
	configMaps := map[string]map[string]string{}
	for _, f := range files {
		docs, err := splitYAML(f)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			var o object
			if err := yaml.Unmarshal(doc, &o); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if o.Kind == "ConfigMap" {
				configMaps[filepath.Base(f)+"/"+o.Metadata.Name] = o.Data
			}
			objects = append(objects, located{filepath.Base(f), o})
		}
	}
	out := map[string]map[string]string{}
	for _, lo := range objects {
		o := lo.obj
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
		default:
			continue
		}
		spec := o.Spec.Template.Spec
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			env := map[string]string{}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					data, ok := configMaps[lo.file+"/"+ef.ConfigMapRef.Name]
					if !ok {
						return fmt.Errorf("%s/%s container %s: envFrom ConfigMap %s is not in the rendered files",
							o.Kind, o.Metadata.Name, c.Name, ef.ConfigMapRef.Name)
					}
					for k, v := range data {
						env[k] = v
					}
				}
				if ef.SecretRef != nil {
					env["<all keys of Secret "+ef.SecretRef.Name+">"] = secretPlaceholder
				}
			}
			for _, e := range c.Env {
				switch {
				case e.Value != nil:
					env[e.Name] = *e.Value
				case len(e.ValueFrom) > 0:
					env[e.Name] = secretPlaceholder
				default:
					env[e.Name] = ""
				}
			}
			out[fmt.Sprintf("k8s:%s:%s/%s/%s", lo.file, o.Kind, o.Metadata.Name, c.Name)] = env
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
