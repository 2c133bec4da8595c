"""A sphinx-gallery image scraper that refuses unpublishable figures.

Listed before ``"matplotlib"`` in ``sphinx_gallery_conf["image_scrapers"]`` (conf.py): after every
code block of a gallery example it checks the open matplotlib figures with
:func:`tntopo.plot.figure_problems` (axis labels, legend entries that look like Python reprs)
and fails the build, naming the example and the problem.
"""


def check_figures(block, block_vars, gallery_conf):
    import matplotlib.pyplot as plt

    from tntopo.plot import figure_problems

    problems = []
    for num in plt.get_fignums():
        problems += [f"figure {num}: {p}" for p in figure_problems(plt.figure(num))]
    if problems:
        raise ValueError(f"{block_vars.get('src_file', 'a gallery example')}: " + "; ".join(problems))
    return ""
