// Package registry is the one list of stored event types: their names, the
// current schema version of each, how to decode and upcast them. Every
// aggregate package contributes its EventTypes explicitly here.
package registry

import (
	"fmt"
	"sort"

	"selfcare/domain"
)

// Registry decodes stored events by type name.
type Registry struct {
	types map[string]domain.EventType
}

// New builds a registry from lists of event types. It returns an error on
// a type listed twice or without a decoder.
func New(lists ...[]domain.EventType) (*Registry, error) {
	r := &Registry{types: map[string]domain.EventType{}}
	for _, list := range lists {
		for _, t := range list {
			if t.Name == "" || t.Decode == nil {
				return nil, fmt.Errorf("registry: event type %q has no name or decoder", t.Name)
			}
			if _, dup := r.types[t.Name]; dup {
				return nil, fmt.Errorf("registry: event type %q listed twice", t.Name)
			}
			if t.Version == 0 {
				t.Version = 1
			}
			r.types[t.Name] = t
		}
	}
	return r, nil
}

// Version returns the current schema version of the named type (1 for
// an unknown one).
func (r *Registry) Version(name string) int {
	if t, ok := r.types[name]; ok {
		return t.Version
	}
	return 1
}

// Known reports whether name is a registered event type.
func (r *Registry) Known(name string) bool {
	_, ok := r.types[name]
	return ok
}

// Names lists the registered type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Decode turns stored data of the given type and schema version into an
// event, upcasting older versions step by step.
func (r *Registry) Decode(name string, version int, data []byte) (domain.Event, error) {
	t, ok := r.types[name]
	if !ok {
		return nil, fmt.Errorf("registry: unknown event type %q", name)
	}
	if version <= 0 {
		version = 1
	}
	for v := version; v < t.Version; v++ {
		up, ok := t.Upcast[v]
		if !ok {
			return nil, fmt.Errorf("registry: no upcast of %s from version %d", name, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("registry: upcast %s from version %d: %w", name, v, err)
		}
	}
	if version > t.Version {
		return nil, fmt.Errorf("registry: %s version %d is newer than this program's %d", name, version, t.Version)
	}
	return t.Decode(data)
}
