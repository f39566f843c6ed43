// This project's minimal Python language host (main.go), built by tools/toolchain.py; it speaks
// the protocol of the SDK module below, the same release as the Pulumi CLI (toolchain/pulumi).
module secure-model-serving/toolchain/pulumi-language-python

go 1.26.6

require (
	github.com/pulumi/pulumi/sdk/v3 v3.274.1
	google.golang.org/grpc v1.83.2
	google.golang.org/protobuf v1.36.11
)

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260803160001-6ac0973c030d // indirect
)
