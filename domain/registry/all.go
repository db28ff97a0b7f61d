package registry

// All is the registry of every event type of selfcare.
func All() *Registry {
	r, err := New(
	// Each aggregate package's EventTypes, explicitly.
	)
	if err != nil {
		panic(err) // a duplicate name is a programming error, caught by tests
	}
	return r
}
