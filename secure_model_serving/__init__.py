"""secure-model-serving: a hardened, isolated ML model-serving platform on Kubernetes, as Pulumi components.

One namespaced import, so it lives beside a consumer's own `components/` or `policies/` packages:

    from secure_model_serving.components import SecureModelPlatform, HardenedModelDeployment

The layout shows who owns what on a shared cluster:

- `cluster/`: what the platform installs once per cluster (admission control, runtime detection,
  the mesh, the secrets operator, the signature controller, the edge) and `SecureModelPlatform`;
- `tenant/`: what each model tenant owns (its namespace, identity, workload, mesh policies,
  secrets, image policy) and `ModelTenant`;
- `program/`: the Pulumi program: stack settings to each component's Args, per stack role;
- `settings/`: the stack settings, validated; `secure_model_serving/policies/`: the admission policies (Rego) both
  the components and the policy pack load;
- `serving_contract` and `serving_vocabulary`: standard-library modules the model server image,
  the components and the tools share.

This file imports nothing, so the image and the tools can import the contract, the vocabulary or
the policies without Pulumi.
"""
