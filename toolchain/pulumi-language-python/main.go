// Command pulumi-language-python is this project's minimal Python language host for the Pulumi
// CLI, used by the real `pulumi up` tier (tests/e2e_pulumi) because the upstream host's Go module
// is not served by the module proxy the project may use. It speaks the LanguageRuntime protocol
// of the SDK module it requires (the CLI's release) and runs programs with that release's own
// `pulumi-language-python-exec`, which tools/toolchain.py puts beside this binary.
//
// It does what `pulumi up`, `preview` and `destroy` need: Run (a Python program) and RunPlugin
// (a Python policy pack), with the interpreter of the virtualenv named in Pulumi.yaml or
// PulumiPolicy.yaml (runtime option `virtualenv`). It installs nothing: a missing virtualenv is
// an error naming it (`make setup` makes both).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set by the linker to the CLI release whose protocol this host speaks.
var version = "0.0.0"

// bailExitCode is what pulumi-language-python-exec exits with after it has shown the user an error.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine string
	exec   string
}

// python is the interpreter of the virtualenv that a program's runtime options name.
func python(info *pulumirpc.ProgramInfo) (string, error) {
	if info == nil {
		return "", errors.New("the CLI sent no program info")
	}
	options := info.GetOptions().AsMap()
	venv, _ := options["virtualenv"].(string)
	if venv == "" {
		return "", fmt.Errorf("%s: runtime option `virtualenv` is not set; this host runs only virtualenvs",
			info.GetRootDirectory())
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	interpreter := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(interpreter); err != nil {
		return "", fmt.Errorf("virtualenv %s has no interpreter (run `make setup`): %w", venv, err)
	}
	return interpreter, nil
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engine = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// The providers a program needs are loaded when it registers their resources (the engine then
// finds each plugin on PATH), so none is announced ahead.
func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetProgramDependencies(
	context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

// InstallDependencies installs nothing; it only checks that the virtualenv is there.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, _ grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	_, err := python(req.GetInfo())
	return err
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	interpreter, err := python(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args := []string{
		"-u", h.exec,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--organization", req.GetOrganization(),
		"--root_directory", req.GetInfo().GetRootDirectory(),
		"--pwd", req.GetPwd(),
		"--parallel", fmt.Sprint(req.GetParallel()),
		"--dry_run", fmt.Sprint(req.GetDryRun()),
		filepath.Join(req.GetInfo().GetProgramDirectory(), entry),
	}
	cmd := exec.CommandContext(ctx, interpreter, append(args, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	var exited *exec.ExitError
	switch err := cmd.Run(); {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exited) && exited.ExitCode() == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("the Python program failed: %v", err)}, nil
	}
}

// streamWriter sends what a plugin writes to the CLI as RunPlugin messages.
type streamWriter struct {
	stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	data := bytes.Clone(p)
	message := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: data}}
	if w.stderr {
		message = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: data}}
	}
	if err := w.stream.Send(message); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin runs a Python plugin (a policy pack): its folder's __main__.py, with its arguments.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	interpreter, err := python(req.GetInfo())
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	main := filepath.Join(req.GetInfo().GetProgramDirectory(), "__main__.py")
	cmd := exec.CommandContext(stream.Context(), interpreter, append([]string{"-u", main}, req.GetArgs()...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(os.Environ(), req.GetEnv()...)
	cmd.Stdout = streamWriter{stream: stream}
	cmd.Stderr = streamWriter{stream: stream, stderr: true}
	code := 0
	var exited *exec.ExitError
	if err := cmd.Run(); errors.As(err, &exited) {
		code = exited.ExitCode()
	} else if err != nil {
		return err
	}
	return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-python ENGINE_ADDRESS")
		os.Exit(2)
	}
	binary, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := &host{
		engine: os.Args[len(os.Args)-1],
		exec:   filepath.Join(filepath.Dir(binary), "pulumi-language-python-exec"),
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	grpcServer := grpc.NewServer()
	pulumirpc.RegisterLanguageRuntimeServer(grpcServer, server)
	fmt.Printf("%d\n", listener.Addr().(*net.TCPAddr).Port)
	if err := grpcServer.Serve(listener); err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
