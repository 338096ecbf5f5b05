"""The paper's reported numbers (Sec. 4.2, Tables 1-3 and the LFW verification EMD), one owner for all tables.

Each entry: method -> value(s) as printed in the paper. Table 1 is in mm (mean, SD over 324 BU-3DFE images);
Table 2 is IoU (upper lip, lower lip); Table 3 is AE, "the average expression deformation" on 1,864 neutral
faces (the paper states no unit); LFW is the EMD between same- and different-identity cosine-similarity
histograms of VGG-Face conv5_3 embeddings of identity-only renders.
"""

TABLE1_GEOMETRY_MM = {  # method: (mean, SD)
    'Ours (paper)': (1.75, 0.44),
    'FML': (1.78, 0.45),
    'MoFA': (3.22, 0.77),
    'Tewari et al. fine': (1.83, 0.39),
    'Tewari et al. coarse': (1.81, 0.47),
}
TABLE2_LIP_IOU = {  # method: (upper lip, lower lip)
    'Ours with L_seg (paper)': (0.54, 0.60),
    'Ours w/o L_seg (paper)': (0.49, 0.52),
    'FML': (0.51, 0.58),
}
TABLE3_AE = {
    'Ours with L_dis (paper)': 0.0116,
    'Ours w/o L_dis (paper)': 4.0065,
    'FML': 2.0329,
    'MoFA': 0.4056,
}
LFW_EMD = {
    'Ours (paper)': 0.15,
    'FML': 0.09,
}
