"""Training throughput of one or two configs: images/s, step time, peak memory, counted TFLOP/s.

Builds the real model, data preprocessor and optimizer wrapper from each config and times full
training steps (``model.train_step``: forward, backward, optimizer step, teacher EMA) after a
warm-up, on synthetic batches with the config's crops and real block masks, or on real batches of
the config's dataloader. FLOPs are counted with ``torch.utils.flop_counter`` over one training
step, not assumed. With two configs the ratios (second / first) are printed too.

Example (HSSL-iBOT vs plain iBOT, ViT-B/16, two 224 crops, bf16)::

    python tools/analysis/benchmark_train.py \\
        configs/hssl/baselines/ibot_vit-base-p16_8xb32-amp-100e_in1k.py \\
        configs/hssl/hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py \\
        --batch-size 128 --device cuda --dtype bf16 --peak-tflops 790 --json bench.json
"""
import argparse
import json
import math
import random
import resource
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.datasets.transforms.masking import BlockMaskGenerator

DTYPES = {'fp32': None, 'bf16': 'bfloat16', 'fp16': 'float16'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark training steps of one or two configs.')
    parser.add_argument('configs', nargs='+', help='one or two config files (ratio = 2nd / 1st)')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help='images per step (default: the config\'s train batch size)')
    parser.add_argument('--iters', type=int, default=20, help='timed training steps')
    parser.add_argument('--warmup', type=int, default=5, help='untimed steps first')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--dtype',
        default='fp32',
        choices=list(DTYPES),
        help='fp32, or autocast in bf16/fp16 (AMP optimizer wrapper)')
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        '--synthetic',
        dest='real',
        action='store_false',
        default=False,
        help='random pixels, the config\'s crop sizes and real block masks (default)')
    data.add_argument(
        '--real',
        dest='real',
        action='store_true',
        help='batches from the config\'s train dataloader (includes data loading)')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        default=None,
        help='dense peak of the device, to report model-FLOP utilisation (MFU)')
    parser.add_argument(
        '--no-flops', dest='flops', action='store_false', help='skip the FLOP count')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config, e.g. model.neck.depth=2')
    args = parser.parse_args(argv)
    if len(args.configs) > 2:
        parser.error(f'give one or two configs, got {len(args.configs)}.')
    if args.iters < 1 or args.warmup < 0:
        parser.error('--iters must be >= 1 and --warmup >= 0.')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available; use --device cpu.')
    return args


def load_config(path: str, args) -> Config:
    cfg = Config.fromfile(path)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    wrapper = cfg.optim_wrapper
    wrapper.type = wrapper.get('type', 'OptimWrapper').replace('AmpOptimWrapper', 'OptimWrapper')
    for key in ('dtype', 'loss_scale'):
        wrapper.pop(key, None)
    if DTYPES[args.dtype] is not None:
        if args.device != 'cuda':
            raise ValueError(f'--dtype {args.dtype} uses mmengine\'s AmpOptimWrapper, which needs '
                             'a GPU; use --dtype fp32 on the CPU.')
        wrapper.type = wrapper.type.replace('OptimWrapper', 'AmpOptimWrapper')
        wrapper.dtype = DTYPES[args.dtype]
        wrapper.loss_scale = 'dynamic'  # as in the reference configs
    return cfg


def _find_multicrop(node) -> Optional[dict]:
    if isinstance(node, dict):
        if node.get('type') == 'MultiCropWithMasks':
            return node
        node = list(node.values())
    if isinstance(node, (list, tuple)):
        for v in node:
            found = _find_multicrop(v)
            if found is not None:
                return found
    return None


def view_layout(cfg: Config) -> Tuple[List[int], int, Optional[BlockMaskGenerator]]:
    """Crop sizes of the views, the number of global views and the mask generator, read from
    the config's pipeline."""
    pre = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    if pre.get('type') == 'BatchMultiCropPreprocessor':
        # Whole images: the preprocessor makes the views and masks inside the timed step.
        return [pre['global_size']], 1, None
    multicrop = _find_multicrop(cfg.train_dataloader.dataset.to_dict())
    if multicrop is None:
        size = cfg.model.backbone.get('img_size', 224)
        return [size, size], 2, None
    transform = TRANSFORMS.build(multicrop)

    def size_of(pipeline):
        crop = [t for t in pipeline.transforms if type(t).__name__ == 'RandomResizedCrop']
        if not crop:
            raise ValueError('benchmark_train: every view pipeline needs a RandomResizedCrop to '
                             'derive the synthetic crop size; use --real instead.')
        return crop[0].scale[0]

    sizes = [size_of(p) for p in transform.global_pipelines]
    if transform.num_local:
        sizes += [size_of(transform.local_pipeline)] * transform.num_local
    return sizes, transform.num_global, transform.mask_generator


def synthetic_batch(sizes: List[int], masks: Optional[BlockMaskGenerator], batch: int,
                    num_global: int, seed: int) -> dict:
    """A collated batch as the dataloader yields it: uint8 views and per-image masks."""
    gen = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(0, 256, (batch, 3, s, s), dtype=torch.uint8, generator=gen) for s in sizes
    ]
    if len(inputs) == 1:
        inputs = inputs[0]
    samples = []
    for _ in range(batch):
        sample = DataSample()
        if masks is not None:
            mask = np.stack([masks() for _ in range(num_global)])
            sample.set_field(torch.from_numpy(mask), 'mask', field_type='data')
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _cpu_sdpa_flops(q, k, v, *args, **kwargs) -> int:
    return sdpa_flop_count(q, k, v)


def _cpu_sdpa_backward_flops(grad_out, q, k, v, *args, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, q, k, v)


def _conv_backward_flops(grad_out, x, w, bias, stride, padding, dilation, transposed,
                         output_padding, groups, output_mask, *args, **kwargs) -> int:
    """Each requested gradient (input, weight) costs one forward convolution. The forward cost
    is ``2 * (output or, transposed, input elements) * w[1:]`` elements, which holds for grouped
    and depthwise convolutions (torch's own backward formula ignores ``groups``)."""
    forward = 2 * math.prod(x if transposed else grad_out) * math.prod(w[1:])
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def flop_counter() -> FlopCounterMode:
    """torch's FLOP counter with two corrections: the CPU fused-attention kernels are counted
    (as SDPA; torch counts 0) and grouped convolutions' backward is counted per group."""
    aten = torch.ops.aten
    custom = {
        aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
        aten.convolution_backward: _conv_backward_flops
    }
    return FlopCounterMode(display=False, custom_mapping=custom)


def count_flops(model, batch: dict, optim_wrapper) -> int:
    """FLOPs of one training step (forward + backward; matmuls, convolutions and attention)."""
    with flop_counter() as counter:
        model.train_step(batch, optim_wrapper)
    return int(counter.get_total_flops())


def peak_memory_mb(device: str) -> float:
    if device == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    # ru_maxrss is in KiB on Linux: the process's peak resident set (it never decreases).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def benchmark(path: str, args) -> Dict[str, object]:
    """Times ``args.iters`` training steps of one config; returns the measured numbers."""
    cfg = load_config(path, args)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    torch.manual_seed(0)
    # The block masks (Python's RNG): every config sees the same ones, and the student's FLOPs
    # depend on how many patches are masked.
    random.seed(0)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as the Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.to(args.device).train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch_size = args.batch_size or cfg.train_dataloader.batch_size
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    if args.real:
        from mmengine.runner import Runner
        loader_cfg = cfg.train_dataloader.copy()
        loader_cfg.batch_size = batch_size
        loader = Runner.build_dataloader(loader_cfg)

        def batches():
            while True:
                yield from loader

        stream = batches()
        next_batch = lambda i: next(stream)  # noqa: E731
    else:
        sizes, num_global, masks = view_layout(cfg)
        fixed = [synthetic_batch(sizes, masks, batch_size, num_global, seed=i) for i in range(2)]
        next_batch = lambda i: fixed[i % 2]  # noqa: E731

    def sync():
        if args.device == 'cuda':
            torch.cuda.synchronize()

    flops = count_flops(model, next_batch(0), optim_wrapper) if args.flops else 0
    for i in range(args.warmup):
        model.train_step(next_batch(i), optim_wrapper)
    sync()
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times, losses = [], [], []
    for i in range(args.iters):
        batch = next_batch(i)
        sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        log_vars = model.train_step(batch, optim_wrapper)
        sync()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
    step = sum(times) / len(times)
    result = dict(
        config=path,
        device=args.device,
        dtype=args.dtype,
        data='real' if args.real else 'synthetic',
        batch_size=batch_size,
        iters=args.iters,
        warmup=args.warmup,
        params_m=num_params / 1e6,
        step_time_s=step,
        step_time_min_s=min(times),
        images_per_s=batch_size / step,
        # CPU seconds of this process per step: on a CPU shared with other jobs and with a fixed
        # thread count it varies far less than the wall-clock step time.
        cpu_time_s=sum(cpu_times) / len(cpu_times),
        peak_memory_mb=peak_memory_mb(args.device),
        final_loss=losses[-1])
    if args.flops:
        result.update(
            gflops_per_step=flops / 1e9,
            gflops_per_image=flops / batch_size / 1e9,
            tflops_per_s=flops / step / 1e12)
        if args.peak_tflops:
            result['mfu'] = result['tflops_per_s'] / args.peak_tflops
    return result


def format_table(results: List[dict], ratio: Optional[dict]) -> str:
    keys = [
        'images_per_s', 'step_time_s', 'cpu_time_s', 'peak_memory_mb', 'gflops_per_image',
        'tflops_per_s', 'mfu', 'params_m'
    ]
    keys = [k for k in keys if any(k in r for r in results)]
    names = [r['config'].rsplit('/', 1)[-1] for r in results]
    width = max(len(n) for n in names + ['metric']) + 2
    lines = [
        'metric'.ljust(18) + ''.join(n.rjust(width) for n in names) +
        ('ratio (2nd/1st)'.rjust(18) if ratio else '')
    ]
    for k in keys:
        row = k.ljust(18) + ''.join(f'{r.get(k, float("nan")):.4g}'.rjust(width) for r in results)
        if ratio and k in ratio:
            row += f'{ratio[k]:.4f}'.rjust(18)
        lines.append(row)
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = [benchmark(path, args) for path in args.configs]
    ratio = None
    if len(results) == 2:
        ratio = {
            k: results[1][k] / results[0][k]
            for k in ('step_time_s', 'cpu_time_s', 'images_per_s', 'peak_memory_mb',
                      'gflops_per_image', 'tflops_per_s') if results[0].get(k)
        }
    meta = dict(
        torch=torch.__version__,
        device_name=(torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'),
        threads=torch.get_num_threads())
    out = dict(meta=meta, results=results, ratio=ratio)
    print(format_table(results, ratio))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == '__main__':
    main()
