"""Study: does the label-free head search rank candidates like their own kNN accuracy?

1. Runs the joint search (tools/search_aux_head.py's procedure) on the config's training photos.
2. Pretrains each candidate alone (same base, same iterations, same seed) and measures the kNN
   accuracy of its base model's class token on a labeled Fashion-MNIST subset.
Writes OUT.json, OUT.png and OUT.md.
"""
import argparse
import time

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmpretrain.registry import DATASETS

import mmhssl  # noqa: F401
from mmhssl.evaluation.features import extract_features
from mmhssl.evaluation.knn import knn_accuracy
from mmhssl.evaluation.report import environment_info, write_json
from mmhssl.search import format_table, plot_history, run_search, to_json
from mmhssl.search.trainer import build_search_model


def shrink(cfg, global_size: int, local_size: int, batch_size: int) -> None:
    """Smaller crops (same structure) so the study fits a CPU budget."""

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'RandomResizedCrop':
                node['scale'] = global_size if node['scale'] >= 96 else local_size
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(cfg.train_dataloader.dataset)
    cfg.model.backbone.img_size = global_size
    cfg.train_dataloader.batch_size = batch_size


def knn(model, size: int, per_class_train: int, per_class_test: int) -> dict:
    pipe = [dict(type='Resize', scale=(size, size)), dict(type='PackInputs')]
    train = DATASETS.build(
        dict(type='LocalFashionMNIST', split='train', num_per_class=per_class_train, pipeline=pipe))
    test = DATASETS.build(
        dict(type='LocalFashionMNIST', split='test', num_per_class=per_class_test, pipeline=pipe))
    xtr, ytr = extract_features(model.backbone, train, model.data_preprocessor)
    xte, yte = extract_features(model.backbone, test, model.data_preprocessor)
    return knn_accuracy(xtr, ytr, xte, yte, num_classes=10, k=20)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--candidates', nargs='+', required=True)
    p.add_argument('--data-root', default='data/skimage_photos')
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--global-size', type=int, default=64)
    p.add_argument('--local-size', type=int, default=32)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--knn-train', type=int, default=50, help='Fashion-MNIST train images/class')
    p.add_argument('--knn-test', type=int, default=30, help='Fashion-MNIST test images/class')
    p.add_argument('--out', default='docs/results/aux_search')
    args = p.parse_args()
    cfg = Config.fromfile(args.config)
    init_default_scope('mmpretrain')
    ds = cfg.train_dataloader.dataset
    while 'dataset' in ds:
        ds = ds.dataset
    ds.data_root = args.data_root
    shrink(cfg, args.global_size, args.local_size, args.batch_size)

    search = run_search(cfg, args.candidates, iters=args.iters, seed=args.seed)
    print(format_table(search))
    solo = {}
    for name in search['ranking']:
        t0 = time.perf_counter()
        r = run_search(cfg, [name], iters=args.iters, seed=args.seed, progress=False)
        acc = knn(r['model'], args.global_size, args.knn_train, args.knn_test)
        solo[name] = dict(
            knn_top1=acc['top1'],
            knn_top5=acc['top5'],
            solo_train_seconds=r['train_seconds'],
            solo_final_ce=r['candidates'][name]['ce'],
            seconds=round(time.perf_counter() - t0, 1))
        print(name, solo[name], flush=True)
    set_random_seed(args.seed)
    init_model = build_search_model(cfg, {args.candidates[0]: {'type': 'AuxMLPHead', 'depth': 1}})
    baseline = knn(init_model, args.global_size, args.knn_train, args.knn_test)
    out = dict(
        to_json(search),
        solo=solo,
        random_init_knn_top1=baseline['top1'],
        knn=dict(
            dataset='Fashion-MNIST',
            train_per_class=args.knn_train,
            test_per_class=args.knn_test,
            k=20,
            feature='student base class token'),
        settings=vars(args),
        environment=environment_info())
    write_json(args.out + '.json', out)
    plot_history(search, args.out + '.png')
    print('random-init kNN top1', baseline['top1'])


if __name__ == '__main__':
    main()
