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
#   NAME.onnx      torch.onnx.export (opset 13, dynamic batch) of random-weight CNNs for the compiled-plan tests:
#                  lenet_view (flattened by x.view(x.size(0), -1)), resnet18 and squeezenet1_1 (torchvision);
#   NAME.input.bin / NAME.output.bin  a batch-2 input and torch's output for it (float32, little-endian)
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
import torchvision
class LeNetView(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Sequential(torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 10))
    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))
nets = {"lenet_view": (LeNetView(), (2, 1, 28, 28)),
        "resnet18": (torchvision.models.resnet18(num_classes=10), (2, 3, 64, 64)),
        "squeezenet1_1": (torchvision.models.squeezenet1_1(num_classes=10), (2, 3, 64, 64))}
for name, (net, shape) in nets.items():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.8, 1.2)
    net.eval()
    x = torch.rand(shape)
    with torch.no_grad():
        y = net(x)
    torch.onnx.export(net, x, os.path.join(out, name + ".onnx"), opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    x.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out, name + ".output.bin"))
print("wrote", out)
PY
