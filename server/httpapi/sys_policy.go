package httpapi

func (a *API) listPolicies(r *request) (response, error) {
	names, err := a.core.Auth.ListPolicies(r.ctx)
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{"keys": names}}, nil
}

// listPoliciesLegacy answers sys/policy, which also names them "policies".
func (a *API) listPoliciesLegacy(r *request) (response, error) {
	names, err := a.core.Auth.ListPolicies(r.ctx)
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{"keys": names, "policies": names}}, nil
}

func (a *API) readPolicy(r *request) (response, error) {
	pol, err := a.core.Auth.GetPolicy(r.ctx, r.vars.ByName("name"))
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{"name": pol.Name, "policy": pol.Raw}}, nil
}

func (a *API) readPolicyLegacy(r *request) (response, error) {
	pol, err := a.core.Auth.GetPolicy(r.ctx, r.vars.ByName("name"))
	if err != nil {
		return nil, err
	}
	return &logical{Data: map[string]any{"name": pol.Name, "rules": pol.Raw}}, nil
}

func (a *API) writePolicy(r *request) (response, error) {
	p := r.params
	rules := p.String("policy")
	if rules == "" {
		rules = p.String("rules") // sys/policy's older name
	}
	if rules == "" && p.Err() == nil {
		p.Require("policy")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if err := a.core.Auth.PutPolicy(r.ctx, r.vars.ByName("name"), rules); err != nil {
		return nil, err
	}
	return noContent{}, nil
}

func (a *API) deletePolicy(r *request) (response, error) {
	if err := a.core.Auth.DeletePolicy(r.ctx, r.vars.ByName("name")); err != nil {
		return nil, err
	}
	return noContent{}, nil
}
