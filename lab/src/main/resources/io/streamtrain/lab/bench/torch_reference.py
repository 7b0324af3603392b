#!/usr/bin/env python3
"""Reference training loop of `streamtrain bench trainer`: not part of the product.

The PyTorch-in-Python + Kafka script a user would write instead of running a streamtrain
trainer node. The bench runs it side by side with streamtrain to compare throughput. It
needs only Debian's packages: python3-torch, python3-numpy and python3-confluent-kafka.

Each Kafka record value is a safetensors document holding x (float32 [B, features]) and
y (int64 [B] class labels). This script trains one step per record, doing the same
arithmetic as a streamtrain step with this spec:

    model: { type: mlp, inputs: F, hidden: H, classes: C, dropout: D, activation: relu }
    optimizer: { type: adamw, learningRate: LR, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    regularization: { l1: L1, l2: L2, weightDecay: WD, exclude: [bias], clipGradNorm: CLIP }

- MLP: Linear, ReLU, Dropout (when D > 0) for each hidden width, then Linear to the classes;
  dropout is on during training.
- Data loss: mean softmax cross-entropy.
- Penalties added to the data loss: L1 * sum|w| + L2 * sum(w^2), summed over every parameter
  whose name does not contain "bias" (case-insensitive), as `exclude: [bias]` does.
- Backward, then the global gradient norm is clipped to CLIP when CLIP > 0 (clip_grad_norm_).
- AdamW with decoupled decay (w *= 1 - lr * WD before the Adam step), applied only to the
  parameters the penalties apply to (so biases get no decay).
- Each step reads the data loss and the correct count (argmax == y) back, as streamtrain
  reports both after every step.
Initialization and dropout masks come from torch's RNG, not streamtrain's, so the two runs
do not produce the same weights, but each step does the same computation.

Output: one JSON object per line on stdout, nothing else (diagnostics go to stderr). Per
epoch {"epoch", "samples", "seconds", "wait_seconds", "loss"}: "seconds" is the window from
the start of the epoch's first step to the end of its last, "wait_seconds" the part of it
spent between steps getting the next batch (with a kafka feed: polling and decoding), and
"loss" the sample-weighted mean data loss. Last, {"result": "ok", "feed", "torch", "threads"}.
Exit status: 0 done, 1 error (topic, broker, bad record), 2 bad arguments, 3 a package missing.
"""
import argparse
import json
import os
import struct
import sys
import time
import uuid

FEEDS = ("memory", "kafka", "kafka-tuned")
# librdkafka settings that remove its 1 s partition pauses when the fetch queue fills up
TUNED = {"queued.max.messages.kbytes": 1048576, "fetch.wait.max.ms": 10}
EXCLUDE = ("bias",)  # regularization.exclude: substring match, case-insensitive
STALL_SECONDS = 60  # give up when no record arrives for this long


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Reference PyTorch + Kafka training loop of `streamtrain bench trainer` (not part of "
                    "streamtrain): trains an MLP with AdamW, L1/L2 penalties and gradient clipping, one step "
                    "per record of a topic of safetensors batches (x float32 [B, features], y int64 [B]). "
                    "Each epoch reads the records the topic held at start.",
        epilog="Output on stdout, one JSON object per line: per epoch {epoch, samples, seconds (first step's "
               "start to last step's end), wait_seconds (time between steps spent getting the next batch), "
               "loss (mean data loss)}, then {result: ok, feed, torch, threads}. Diagnostics go to stderr. "
               "Exit status: 0 done, 1 error, 2 bad arguments, 3 python3-torch, python3-numpy or "
               "python3-confluent-kafka missing.")
    p.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT", help="Kafka bootstrap servers")
    p.add_argument("--topic", required=True, metavar="NAME", help="topic of batch records (every partition is read)")
    p.add_argument("--feed", choices=FEEDS, default="kafka",
                   help="memory: decode every record into tensors first (untimed), then train on them; "
                        "kafka: each epoch a consumer on librdkafka's defaults reads the topic and each record is "
                        "decoded and trained as it arrives; kafka-tuned: the same with "
                        "queued.max.messages.kbytes=1048576 and fetch.wait.max.ms=10 (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the records present at start (default: %(default)s)")
    p.add_argument("--features", type=int, default=784, help="inputs per sample (default: %(default)s)")
    p.add_argument("--hidden", default="256,128", help="hidden layer widths, comma-separated (default: %(default)s)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default: %(default)s)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout rate after each hidden layer (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.001, help="AdamW learning rate (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW decoupled weight decay, not applied to biases (default: %(default)s)")
    p.add_argument("--l1", type=float, default=1e-5, help="L1 penalty on non-bias parameters (default: %(default)s)")
    p.add_argument("--l2", type=float, default=1e-4, help="L2 penalty on non-bias parameters (default: %(default)s)")
    p.add_argument("--clip-grad-norm", type=float, default=1.0,
                   help="clip the global gradient norm to this; 0 turns clipping off (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op and inter-op threads (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="torch seed for initialization and dropout (default: %(default)s)")
    a = p.parse_args(argv)
    try:
        a.hidden = [int(h) for h in a.hidden.split(",") if h.strip()]
    except ValueError:
        p.error("--hidden must be comma-separated integers, got %r" % a.hidden)
    for name in ("epochs", "features", "classes", "threads"):
        if getattr(a, name) < 1:
            p.error("--%s must be at least 1" % name)
    if any(h < 1 for h in a.hidden) or not 0 <= a.dropout < 1 or a.lr <= 0 or min(a.weight_decay, a.l1, a.l2, a.clip_grad_norm) < 0:
        p.error("--hidden widths must be >= 1, --dropout in [0, 1), --lr > 0, the rest >= 0")
    return a


def import_or_exit(module, package):
    try:
        return __import__(module)
    except ImportError as e:
        print("torch_reference.py: %s is not installed (apt-get install %s): %s" % (package, package, e), file=sys.stderr)
        sys.exit(3)


def blas_libraries():
    """The BLAS libraries mapped into this process: Debian's torch uses whatever libblas.so.3 is installed."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if len(line.split()) >= 6}
    except OSError:
        return []
    return sorted({os.path.realpath(p) for p in paths if "blas" in os.path.basename(p)})


args = parse_args()
# before torch loads them: OpenBLAS's own pool and OpenMP's would otherwise start one thread per core
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)
np = import_or_exit("numpy", "python3-numpy")
torch = import_or_exit("torch", "python3-torch")
kafka = import_or_exit("confluent_kafka", "python3-confluent-kafka")
torch.set_num_threads(args.threads)
torch.set_num_interop_threads(args.threads)

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(buf):
    """{name: numpy array} of a safetensors document (8-byte LE header length, JSON header, data)."""
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(bytes(buf[8:8 + n]))
    data = memoryview(buf)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":  # the high half of a float32
            a = (np.frombuffer(data[begin:end], "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in DTYPES:
            a = np.frombuffer(data[begin:end], DTYPES[info["dtype"]])
        else:
            raise ValueError("tensor %r has unsupported dtype %s" % (name, info["dtype"]))
        out[name] = a.reshape(info["shape"])
    return out


def decode(value):
    """A record's (x float32 [B, features], y int64 [B]) tensors."""
    t = read_safetensors(value)
    if "x" not in t or "y" not in t:
        raise ValueError("a batch record needs tensors x and y, found %s" % sorted(t))
    x, y = t["x"], t["y"]
    b = x.shape[0]
    if x.size != b * args.features or y.size != b:
        raise ValueError("record has x %s, y %s; expected [B, %d] and [B]" % (list(x.shape), list(y.shape), args.features))
    return torch.from_numpy(x.reshape(b, args.features).astype(np.float32)), torch.from_numpy(y.reshape(b).astype(np.int64))


def build():
    torch.manual_seed(args.seed)
    layers, width = [], args.features
    for h in args.hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        if args.dropout > 0:
            layers.append(torch.nn.Dropout(args.dropout))
        width = h
    layers.append(torch.nn.Linear(width, args.classes))
    model = torch.nn.Sequential(*layers).train()
    named = list(model.named_parameters())
    regularized = [p for n, p in named if not any(e in n.lower() for e in EXCLUDE)]
    exempt = [p for n, p in named if any(e in n.lower() for e in EXCLUDE)]
    opt = torch.optim.AdamW([{"params": regularized, "weight_decay": args.weight_decay},
                             {"params": exempt, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    return model, opt, regularized


def train_step(model, opt, regularized, x, y):
    opt.zero_grad(set_to_none=True)
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, y)
    total = loss
    if args.l1 > 0:
        total = total + args.l1 * sum(p.abs().sum() for p in regularized)
    if args.l2 > 0:
        total = total + args.l2 * sum(p.square().sum() for p in regularized)
    total.backward()
    if args.clip_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
    opt.step()
    return loss.item(), (out.argmax(1) == y).sum().item()


def consumer(tuned, group):
    conf = {"bootstrap.servers": args.bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    return kafka.Consumer({**conf, **TUNED} if tuned else conf)


def end_offsets(group):
    """{partition: end offset} of the topic now: each epoch reads up to these."""
    c = consumer(False, group)
    try:
        topic = c.list_topics(args.topic, timeout=30).topics.get(args.topic)
        if topic is None or topic.error is not None:
            raise RuntimeError("topic %s not found on %s: %s" % (args.topic, args.bootstrap_servers, topic and topic.error))
        return {p: c.get_watermark_offsets(kafka.TopicPartition(args.topic, p), timeout=30)[1] for p in sorted(topic.partitions)}
    finally:
        c.close()


def records(tuned, group, ends):
    """Yields (partition, offset, value) of every record below the end offsets, as they arrive."""
    c = consumer(tuned, group)
    try:
        c.assign([kafka.TopicPartition(args.topic, p, kafka.OFFSET_BEGINNING) for p, end in ends.items() if end > 0])
        left = {p for p, end in ends.items() if end > 0}
        last = time.monotonic()
        while left:
            msg = c.poll(1.0)
            if msg is None:
                # a partition whose last offsets are transaction markers yields no record at end - 1
                for tp in c.position([kafka.TopicPartition(args.topic, p) for p in left]):
                    if tp.offset >= ends[tp.partition]:
                        left.discard(tp.partition)
                if left and time.monotonic() - last > STALL_SECONDS:
                    raise RuntimeError("no record for %d s; partitions %s not read to their end" % (STALL_SECONDS, sorted(left)))
                continue
            if msg.error():
                raise kafka.KafkaException(msg.error())
            last = time.monotonic()
            p, o = msg.partition(), msg.offset()
            if p in left and o < ends[p]:
                if o + 1 >= ends[p]:
                    left.discard(p)
                yield p, o, msg.value()
    finally:
        c.close()


def run_epoch(epoch, model, opt, regularized, batches):
    """Trains on each (x, y) of batches; prints the epoch's line."""
    samples, loss_sum, stepping = 0, 0.0, 0.0
    first = end = None
    for x, y in batches:
        start = time.perf_counter()
        loss, _correct = train_step(model, opt, regularized, x, y)
        end = time.perf_counter()
        first = start if first is None else first
        stepping += end - start
        samples += len(y)
        loss_sum += loss * len(y)
    window = end - first if first is not None else 0.0
    print(json.dumps({"epoch": epoch, "samples": samples, "seconds": window, "wait_seconds": max(0.0, window - stepping),
                      "loss": loss_sum / samples}), flush=True)


def main():
    group = "torch-reference-" + uuid.uuid4().hex
    ends = end_offsets(group)
    if not any(ends.values()):
        raise RuntimeError("topic %s has no records" % args.topic)
    print("torch_reference.py: topic %s, end offsets %s, feed %s, torch %s, %d threads"
          % (args.topic, ends, args.feed, torch.__version__, args.threads), file=sys.stderr)
    blas = blas_libraries()
    print("torch_reference.py: BLAS %s" % (", ".join(blas) or "unknown"), file=sys.stderr)
    if any("/blas/libblas" in b for b in blas):
        print("torch_reference.py: warning: torch is using the reference (netlib) BLAS, many times slower than OpenBLAS;"
              " apt-get install libopenblas0 for a fair comparison", file=sys.stderr)
    model, opt, regularized = build()
    if args.feed == "memory":
        # in produce order for round-robin partitioning: offset, then partition
        ordered = sorted(records(True, group, ends), key=lambda r: (r[1], r[0]))
        batches = [decode(v) for _, _, v in ordered]
        for epoch in range(1, args.epochs + 1):
            run_epoch(epoch, model, opt, regularized, batches)
    else:
        for epoch in range(1, args.epochs + 1):
            run_epoch(epoch, model, opt, regularized,
                      (decode(v) for _, _, v in records(args.feed == "kafka-tuned", group, ends)))
    print(json.dumps({"result": "ok", "feed": args.feed, "torch": torch.__version__, "threads": args.threads}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, ValueError, kafka.KafkaException) as e:
        print("torch_reference.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
