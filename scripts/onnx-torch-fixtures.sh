#!/bin/sh
# Writes PyTorch state_dict fixtures for the TorchPickle tests with Debian's python3-torch (torch.save, zip format):
#   state.pt       a small Conv/BatchNorm/Linear state_dict plus a half tensor, a strided view and a scalar tensor
#   state.json     the same tensors as {name: {"shape": [...], "values": [...]}} (float64 lists)
#   nested.pt      {"epoch": 3, "model": state_dict}: nested names flatten to "model.<name>"
#   evil.pt        an object whose __reduce__ calls os.system: loading must refuse it by name
#   lenet5.pth     a torch LeNet-5 laid out like the zoo's lenet5 (features.*, classifier.*), random weights;
#   lenet5.json    its state_dict as in state.json (ModelZoo.Create(..., weights:) must load it exactly)
#   expanded.pt    a 1-element storage viewed as 500,000,000 elements (stride 0): must be refused, not allocated
#   empty-huge.pt  an empty tensor of size (0, 3000000000): a size above int's range must be refused
# Usage: scripts/onnx-torch-fixtures.sh [DIR]   (default $TMPDIR/engine-torch-fixtures; keep it out of git)
set -eu
DIR="${1:-${TMPDIR:-/tmp}/engine-torch-fixtures}"
mkdir -p "$DIR"
/usr/bin/python3 - "$DIR" <<'PY'
import json, os, sys
import torch
out = sys.argv[1]
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
net[1].running_mean.uniform_(-1, 1)
state = net.state_dict()
state["extra.half"] = torch.randn(2, 3).half()
state["extra.view"] = torch.arange(24, dtype=torch.float32).reshape(4, 6).t()[1:4]
state["extra.long"] = torch.tensor([[1, -2], [3, 2**40]], dtype=torch.int64)
torch.save(state, os.path.join(out, "state.pt"))
torch.save({"epoch": 3, "model": net.state_dict()}, os.path.join(out, "nested.pt"))
with open(os.path.join(out, "state.json"), "w") as f:
    json.dump({k: {"shape": list(v.shape), "values": v.double().flatten().tolist()} for k, v in state.items()}, f)
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > " + os.path.join(out, "pwned"),))
torch.save({"weight": torch.zeros(1), "payload": Evil()}, os.path.join(out, "evil.pt"))
lenet = torch.nn.Module()
lenet.features = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                     torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
lenet.classifier = torch.nn.Sequential(torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
                                       torch.nn.Linear(84, 10))
torch.save(lenet.state_dict(), os.path.join(out, "lenet5.pth"))
with open(os.path.join(out, "lenet5.json"), "w") as f:
    json.dump({k: {"shape": list(v.shape), "values": v.double().flatten().tolist()} for k, v in lenet.state_dict().items()}, f)
torch.save({"big": torch.zeros(1).expand(500_000_000)}, os.path.join(out, "expanded.pt"))
torch.save({"empty": torch.zeros(0, 3_000_000_000)}, os.path.join(out, "empty-huge.pt"))
print("wrote", out)
PY
