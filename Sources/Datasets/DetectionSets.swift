import Assets

extension DatasetRegistry {
    /// Real images for dense prediction (`Sources/Dense`):
    ///
    /// - `deepforest`: the 4 aerial RGB photographs of the DeepForest 2.1.0 wheel (`deepforest/data/`, Weinstein et
    ///   al., "DeepForest", Methods Ecol. Evol. 2020; NEON sites YELL, OSBS, SOAP) with their 951 hand-annotated tree
    ///   crowns as Pascal VOC XML, one folder per photograph (its PNG and its XML), for leave-one-image-out detection.
    /// - `sklearn-photos`: the two sample photographs of scikit-learn 1.7.2 (`china.jpg`, `flower.jpg`, 640×427),
    ///   backgrounds for ``CompositeSegmentationSet``-style segmentation sets.
    static let denseSets: [DatasetSpec] = {
        let stems = ["2019_YELL_2_528000_4978000_image_crop2", "2019_YELL_2_541000_4977000_image_crop", "OSBS_029", "SOAP_061"]
        return [
            DatasetSpec(
                name: "deepforest",
                summary: "DeepForest: 4 aerial photographs with 951 annotated tree crowns (Pascal VOC boxes), one folder each",
                modality: .image, license: "MIT (package)",
                source: .pypiConverted(
                    wheel: PyPIFile(package: "deepforest", version: "2.1.0", filename: "deepforest-2.1.0-py3-none-any.whl",
                                    sha256: "8c2798d8e9be7f0004b194fe207b76c1d9fff6e711b3db67b9508dcd5d00ae54"),
                    payload: .filesIntoFolders(prefix: "deepforest/data/",
                                               folders: Dictionary(uniqueKeysWithValues: stems.map { ($0, [$0 + ".png", $0 + ".xml"]) }))),
                classNames: stems.sorted(),
                splits: [DatasetSplit(name: "all", classCounts: [1, 1, 1, 1])]),
            DatasetSpec(
                name: "sklearn-photos",
                summary: "scikit-learn's two sample photographs (china, flower)",
                modality: .image, license: "CC BY 2.0 / public domain (photos), BSD-3-Clause (package)",
                source: .pypiConverted(
                    wheel: PyPIFile(package: "scikit-learn", version: "1.7.2",
                                    filename: "scikit_learn-1.7.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                                    sha256: "89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d"),
                    payload: .filesIntoFolders(prefix: "sklearn/datasets/images/", folders: ["china": ["china.jpg"], "flower": ["flower.jpg"]])),
                classNames: ["china", "flower"],
                splits: [DatasetSplit(name: "all", classCounts: [1, 1])]),
        ]
    }()
}
