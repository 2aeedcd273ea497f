#!/usr/bin/env python3
"""How the IVF lists are trained, measured: recall@10 at 16, 24 and 32 probed lists of 1,024
on the shared harness's 100k data set, for lists trained on 40 points a list sampled from the
first 65,536 vectors (what Engram's retraining at 4x growth sees) by
  - two-level spherical k-means (32 groups, then each group into its share of the lists),
  - the same refined by 2 and by 4 flat iterations (what Engram does: 2),
  - flat spherical k-means, 10 iterations from random centroids.
Uses faiss-cpu from the harness's environment; run from the project root:
  .build-bench/venv/bin/python Benchmarks/ivf-training.py
"""
import time

import faiss
import numpy as np

D = 384
data = ".build-bench/data/100k/"
xb, xq, gt = np.load(data + "base.npy"), np.load(data + "queries.npy"), np.load(data + "gt_ids.npy")


def kmeans(x, k, niter=10, seed=1):
    c = faiss.Kmeans(D, k, niter=niter, spherical=True, seed=seed, min_points_per_centroid=1,
                     max_points_per_centroid=1 << 30)
    c.train(x)
    return c.centroids


def two_level(x, nlist, niter=10):
    groups = int(np.ceil(np.sqrt(nlist)))
    top = kmeans(x, groups, niter)
    index = faiss.IndexFlatIP(D)
    index.add(top)
    _, assigned = index.search(x, 1)
    assigned = assigned[:, 0]
    counts = np.bincount(assigned, minlength=groups)
    share = np.maximum(1, np.floor(nlist * counts / len(x)).astype(int)) * (counts > 0)
    while share.sum() < nlist:
        share[np.argmax(nlist * counts / len(x) - share)] += 1
    while share.sum() > nlist:
        share[np.argmax(share)] -= 1
    parts = []
    for g in range(groups):
        points = x[assigned == g]
        if share[g]:
            parts.append(kmeans(points, share[g], niter, seed=g + 2) if share[g] < len(points) else points[:share[g]])
    return np.vstack(parts)


def refine(x, centroids, niter):
    c = faiss.Clustering(D, len(centroids))
    c.niter, c.spherical, c.min_points_per_centroid, c.max_points_per_centroid = niter, True, 1, 1 << 30
    faiss.copy_array_to_vector(centroids.ravel(), c.centroids)
    c.train(x, faiss.IndexFlatIP(D))
    return faiss.vector_to_array(c.centroids).reshape(-1, D)


def recall(centroids):
    quantizer = faiss.IndexFlatIP(D)
    quantizer.add(centroids)
    ivf = faiss.IndexIVFFlat(quantizer, D, len(centroids), faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    ivf.add(xb)
    out = []
    for probes in (16, 24, 32):
        ivf.nprobe = probes
        _, found = ivf.search(xq, 10)
        out.append("%d lists: %.4f" % (probes, np.mean([len(set(found[i]) & set(gt[i])) / 10 for i in range(len(xq))])))
    return ", ".join(out)


faiss.omp_set_num_threads(1)
first = xb[:65536]
sample = first[np.random.RandomState(0).choice(len(first), 40 * 1024, replace=False)]
for name, train in [
    ("two-level", lambda: two_level(sample, 1024)),
    ("two-level + 2 flat iterations", lambda: refine(sample, two_level(sample, 1024), 2)),
    ("two-level + 4 flat iterations", lambda: refine(sample, two_level(sample, 1024), 4)),
    ("flat, 10 iterations", lambda: kmeans(sample, 1024)),
]:
    t = time.time()
    centroids = train()
    print("%-30s trained in %5.2f s (1 thread); recall@10 at %s" % (name, time.time() - t, recall(centroids)))
