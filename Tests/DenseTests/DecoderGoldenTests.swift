import Dense
import Layers
import Models
import Tensors
import Testing

/// The decoder blocks against segmentation_models.pytorch's on fixed weights (tools/make_segmentation_fixtures.py),
/// in eval mode. Tolerance 1e-4 absolute (float32 convolutions summed in another order).
@Suite struct DecoderGoldenTests {
    @Test func unetDecoderBlockMatchesSMPWithAndWithoutSkip() throws {
        let f = try denseFixture("dense_golden")
        let block = UNetDecoderBlock(inChannels: 8, skipChannels: 4, outChannels: 6)
        try block.load(fixtureState(f, prefix: "unet.block.", for: block), strict: true)
        block.eval()
        let y = withNoGrad { block(try! f.tensor("unet.x"), skip: try! f.tensor("unet.skip")) }
        #expect(y.shape.dims == [2, 6, 8, 10])
        #expect(maxAbsDifference(y, try f.tensor("unet.output")) < 1e-4)
    }

    @Test func fpnTopDownBlockMatchesSMP() throws {
        let f = try denseFixture("dense_golden")
        let block = FPNBlock(pyramidChannels: 6, skipChannels: 5)
        try block.load(fixtureState(f, prefix: "fpn.block.", for: block), strict: true)
        let y = withNoGrad { block(try! f.tensor("fpn.x"), skip: try! f.tensor("fpn.skip")) }
        #expect(maxAbsDifference(y, try f.tensor("fpn.output")) < 1e-4)
    }

    @Test func fpnSegmentationBlockMatchesSMPWithTwoUpsamplings() throws {
        let f = try denseFixture("dense_golden")
        let block = FPNSegmentationBlock(inChannels: 6, outChannels: 4, upsamples: 2)
        try block.load(fixtureState(f, prefix: "seg.block.", for: block), strict: true)
        block.eval()
        let y = withNoGrad { block(try! f.tensor("seg.x")) }
        #expect(y.shape.dims == [1, 4, 12, 16])
        #expect(maxAbsDifference(y, try f.tensor("seg.output")) < 1e-4)
    }

    @Test func pyramidsOfEfficientNetAndResNetHaveStridesTwoToThirtyTwo() {
        let lite = EfficientNetLite(.lite0, includeTop: false)
        #expect(lite.pyramidShape().map(\.stride) == [2, 4, 8, 16, 32])
        #expect(lite.pyramidShape().map(\.channels) == [16, 24, 40, 112, 320])
        let resnet = ResNet(.resnet18, includeTop: false)
        #expect(resnet.pyramidShape().map(\.stride) == [2, 4, 8, 16, 32])
        #expect(resnet.pyramidShape().map(\.channels) == [64, 64, 128, 256, 512])
    }

    @Test func bothArchitecturesGiveLogitsAtInputResolution() {
        for arch in SegmentationArchitecture.allCases {
            let model = SegmentationModel(encoder: ResNet(.resnet18, includeTop: false), architecture: arch, classes: 3)
            model.eval()
            let y = withNoGrad { model(Tensor.zeros([1, 3, 64, 96])) }
            #expect(y.shape.dims == [1, 3, 64, 96], "\(arch)")
        }
    }
}

/// The first convolution adapted to other channel counts keeps what the pretrained kernels compute.
@Suite struct InputChannelTests {
    @Test func greyAndSixChannelInputsReproduceTheRGBModel() throws {
        Initializer.seed(7)
        var g = SeededGenerator(seed: 1)
        let grey = Tensor.randn([1, 1, 32, 32], generator: &g)
        let rgb = Tensor.concat([grey, grey, grey], axis: 1)
        for make in [{ ResNet(.resnet18, includeTop: false) as any VisionBackbone }, { EfficientNetLite(.lite0, includeTop: false) as any VisionBackbone }] {
            Initializer.seed(7)
            let reference = make()
            reference.eval()
            let expected = withNoGrad { reference.features(rgb) }
            Initializer.seed(7)
            let one = make()
            try one.adaptInputChannels(1)
            one.eval()
            #expect(one.inputChannels == 1)
            #expect(maxAbsDifference(withNoGrad { one.features(grey) }, expected) < 1e-4)
            Initializer.seed(7)
            let six = make()
            try six.adaptInputChannels(6)
            six.eval()
            #expect(maxAbsDifference(withNoGrad { six.features(Tensor.concat([rgb, rgb], axis: 1)) }, expected) < 1e-4)
        }
    }
}
