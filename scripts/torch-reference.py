"""Reference data for Engine.Tests/Models/TorchReferenceTests.cs: zoo models against torchvision.

For each model name, builds the torchvision model with seeded random weights (constant initialisations such as
batch-norm scale/shift, running statistics and ConvNeXt's layer scale are randomised too, so every tensor matters),
and writes into OUT (default artifacts/torch-reference, kept out of git):
  NAME.safetensors      the state_dict, every tensor as float32 (batch norm's num_batches_tracked counters too)
  NAME.io.safetensors   'input' (seeded normal, batch 2) and 'output' (torchvision, eval mode), with metadata
                        num_classes, seed and torch/torchvision versions
and, for resnet18 only, resnet18.pth: the same state_dict as torch.save writes it (zip format, int64 counters).
safetensors is written here (8-byte little-endian header length, JSON header, raw little-endian data), so the
'safetensors' Python module is not needed.

Usage: /usr/bin/python3 scripts/torch-reference.py [--out DIR] [--all] [NAME...]
"""
import argparse
import json
import os
import struct
import sys
import time

import torch
import torchvision

NUM_CLASSES = 10
BATCH = 2
SEED = 1234

# name -> input size (square). Small inputs keep generation and the tests quick; every model still reaches its
# adaptive pooling with at least one pixel (AlexNet and VGG then replicate it to 6x6 / 7x7).
DEFAULT = {
    "alexnet": 64, "vgg11": 32, "vgg11_bn": 32, "googlenet": 64, "resnet18": 64, "resnet50": 64,
    "mobilenet_v2": 64, "efficientnet_b0": 64, "convnext_tiny": 64,
}
# The remaining variants differ only in depth or width: generated with --all (or by name).
EXTRA = {
    "vgg13": 32, "vgg13_bn": 32, "vgg16": 32, "vgg16_bn": 32, "vgg19": 32, "vgg19_bn": 32,
    "resnet34": 64, "resnet101": 64, "resnet152": 64,
    **{f"efficientnet_b{b}": 64 for b in range(1, 8)},
}
PTH_MODEL = "resnet18"


def build(name):
    factory = getattr(torchvision.models, name)
    if name == "googlenet":
        return factory(weights=None, num_classes=NUM_CLASSES, aux_logits=False, transform_input=False, init_weights=True)
    return factory(weights=None, num_classes=NUM_CLASSES)


def randomise_constants(model, generator):
    """Replaces constant tensors (scales of 1, shifts of 0, running statistics, layer scale 1e-6) by random ones."""
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point() or t.numel() == 0:
                continue
            flat = t.flatten()
            if not bool((flat == flat[0]).all()):
                continue
            u = torch.rand(t.shape, generator=generator)
            if key.endswith("running_var"):
                t.copy_(1 + u)
            elif key.endswith("layer_scale"):
                t.copy_(0.1 + 0.2 * u)
            elif float(flat[0]) == 0.0:
                t.copy_(0.2 * u - 0.1)
            else:
                t.copy_(float(flat[0]) * (0.25 + 0.5 * u))
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.2 * torch.rand(m.running_mean.shape, generator=generator) - 0.1)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 tensor). Writes to path + '.tmp' and renames into place."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors:
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def generate(name, size, out):
    started = time.time()
    torch.manual_seed(SEED)
    model = build(name)
    generator = torch.Generator().manual_seed(SEED + 1)
    randomise_constants(model, generator)
    model.eval()
    x = torch.randn(BATCH, 3, size, size, generator=generator)
    with torch.no_grad():
        y = model(x)
    state = list(model.state_dict().items())
    write_safetensors(os.path.join(out, name + ".safetensors"), state, None)
    metadata = {"model": name, "num_classes": NUM_CLASSES, "seed": SEED,
                "torch": torch.__version__, "torchvision": torchvision.__version__}
    write_safetensors(os.path.join(out, name + ".io.safetensors"), [("input", x), ("output", y)], metadata)
    if name == PTH_MODEL:
        torch.save(model.state_dict(), os.path.join(out, name + ".pth"))
    print(f"{name}: input {tuple(x.shape)}, {sum(v.numel() for _, v in state):,} values, "
          f"|output| max {y.abs().max():.3g}, {time.time() - started:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "artifacts", "torch-reference"))
    parser.add_argument("--all", action="store_true", help="also the deeper/wider variants (several GB)")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    known = {**DEFAULT, **EXTRA}
    names = args.names or list(DEFAULT) + (list(EXTRA) if args.all else [])
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"torch-reference: unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in names:
        generate(name, known[name], args.out)
    print(f"wrote {len(names)} model(s) to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
