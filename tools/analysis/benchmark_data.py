"""Throughput of a config's training pipeline alone (decode, multi-crop, masks), in one process.

The pipeline of the config's (innermost) training dataset is applied to the images of a folder (or,
without ``--images``, to the items of that dataset itself), in a loop, without the model or a
dataloader. When the config augments in its data preprocessor (``BatchMultiCropPreprocessor``), the
items are collated into training batches and the preprocessor's work is timed with them. CPU time is
reported beside wall time, so a busy machine does not distort the comparison.

The number is images/s per dataloader worker: each worker runs this pipeline serially, so a
loader with ``num_workers`` workers delivers at most about ``num_workers`` times as much.

Example::

    python tools/analysis/benchmark_data.py \\
        configs/hssl/hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py \\
        --images data/skimage_photos --num-images 32 --profile
"""
import argparse
import cProfile
import io
import json
import os
import os.path as osp
import pstats
import time

import torch
from mmcv.transforms import Compose
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmpretrain.registry import TRANSFORMS

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.datasets.image_folder import IMAGE_EXTENSIONS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark the training data pipeline.')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--images',
        help='folder of images to feed the pipeline (default: the '
        'config\'s own training dataset, e.g. in-memory Fashion-MNIST)')
    parser.add_argument('--num-images', type=int, default=32, help='images to process')
    parser.add_argument('--repeat', type=int, default=1, help='passes over the images')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads (default 1, as in a dataloader worker process)')
    parser.add_argument('--profile', action='store_true', help='print the cProfile top functions')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    return parser.parse_args(argv)


def innermost_dataset(cfg: dict) -> dict:
    while isinstance(cfg.get('dataset'), dict):
        cfg = cfg['dataset']
    return cfg


def _items(cfg, args, pipeline):
    """The inputs to time: image files of ``--images``, else the config's own dataset."""
    if args.images:
        files = sorted(f for f in os.listdir(args.images) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ValueError(f'benchmark_data: no images in {args.images}; give a folder of '
                             f'images ({", ".join(IMAGE_EXTENSIONS)}).')
        paths = [osp.join(args.images, files[i % len(files)]) for i in range(args.num_images)]
        return lambda i: pipeline(dict(img_path=paths[i]))
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(innermost_dataset(cfg.train_dataloader.dataset.to_dict()))
    return lambda i: dataset[i % len(dataset)]


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    # Dataloader worker processes run PyTorch with one thread; the main process (num_workers=0)
    # uses all cores, which makes PackInputs' small copies much slower on a busy machine.
    torch.set_num_threads(args.threads)
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in innermost_dataset(cfg.train_dataloader.dataset)['pipeline']])
    item = _items(cfg, args, pipeline)
    # A batched preprocessor does the augmentation after collation: time it with the pipeline.
    pre_cfg = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    preprocessor = None
    if pre_cfg.get('type') == 'BatchMultiCropPreprocessor':
        from mmengine.dataset import default_collate
        from mmpretrain.registry import MODELS
        preprocessor = MODELS.build(pre_cfg)
        batch_size = cfg.train_dataloader.batch_size
    item(0)  # warm-up out of the timing

    profiler = cProfile.Profile() if args.profile else None
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    n = args.num_images * args.repeat
    batch = []
    for i in range(n):
        batch.append(item(i % args.num_images))
        if preprocessor is not None and (len(batch) == batch_size or i == n - 1):
            preprocessor(default_collate(batch), training=True)
            batch = []
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    result = dict(
        config=args.config,
        threads=args.threads,
        images=n,
        seconds=elapsed,
        cpu_seconds=cpu,
        images_per_s_per_worker=n / elapsed,
        images_per_cpu_s=n / cpu,
        ms_per_image=1000 * elapsed / n,
        batched_preprocessor=preprocessor is not None)
    print(f'{n} images in {elapsed:.2f} s ({cpu:.2f} s of CPU): '
          f'{result["images_per_s_per_worker"]:.2f} images/s per worker, '
          f'{result["images_per_cpu_s"]:.2f} images per CPU-second '
          f'({result["ms_per_image"]:.2f} ms/image)')
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats('tottime').print_stats(25)
        print(stream.getvalue())
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
