"""The board registry reads everything from BrainFlow's board descriptions."""

from __future__ import annotations

import pytest
from brainflow.board_shim import BoardIds, BoardShim

from dreamband.cli import main
from dreamband.firmware_bridge import BOARD_NAMES, board_info, list_boards, resolve_board
from dreamband.session.boards import boards_table


@pytest.mark.parametrize(
    ("name", "board_id"),
    [
        ("synthetic", BoardIds.SYNTHETIC_BOARD),
        ("playback", BoardIds.PLAYBACK_FILE_BOARD),
        ("cyton", BoardIds.CYTON_BOARD),
        ("cyton-daisy", BoardIds.CYTON_DAISY_BOARD),
        ("ganglion", BoardIds.GANGLION_BOARD),
        ("muse-s", BoardIds.MUSE_S_BOARD),
        ("muse-2", BoardIds.MUSE_2_BOARD),
        ("Muse-S", BoardIds.MUSE_S_BOARD),
    ],
)
def test_named_boards_map_to_brainflow_ids(name, board_id):
    got_id, got_name = resolve_board(name)
    assert got_id == int(board_id)
    assert got_name == name.lower()


def test_any_brainflow_id_or_enum_name_is_accepted():
    assert resolve_board(5) == (int(BoardIds.CYTON_WIFI_BOARD), "cyton-wifi-board")
    assert resolve_board("5") == (int(BoardIds.CYTON_WIFI_BOARD), "cyton-wifi-board")
    assert resolve_board("-1") == (int(BoardIds.SYNTHETIC_BOARD), "synthetic")
    assert resolve_board(0) == (int(BoardIds.CYTON_BOARD), "cyton")
    assert resolve_board("CYTON_WIFI_BOARD")[0] == int(BoardIds.CYTON_WIFI_BOARD)
    info = board_info(5)
    assert info.sfreq == BoardShim.get_sampling_rate(int(BoardIds.CYTON_WIFI_BOARD))


@pytest.mark.parametrize("bad", ["cytonn", "", "muse", "12345", 12345, "NO_BOARD"])
def test_unknown_board_names_the_valid_ones(bad):
    with pytest.raises(ValueError, match="Allowed values are") as err:
        resolve_board(bad)
    msg = str(err.value)
    for name in ("'synthetic'", "'playback'", "'cyton'", "'cyton-daisy'", "'ganglion'", "'muse-s'", "'muse-2'"):
        assert name in msg
    assert repr(bad) in msg


def test_board_type_is_checked():
    with pytest.raises(TypeError, match="board must be"):
        resolve_board(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in BOARD_NAMES if n != "playback"])
def test_board_info_matches_brainflow(name):
    info = board_info(name)
    bid = info.board_id
    assert info.sfreq == BoardShim.get_sampling_rate(bid)
    assert list(info.eeg_rows) == BoardShim.get_eeg_channels(bid)
    assert info.marker_row == BoardShim.get_marker_channel(bid)
    assert info.timestamp_row == BoardShim.get_timestamp_channel(bid)
    assert info.package_num_row == BoardShim.get_package_num_channel(bid)
    assert info.n_rows == BoardShim.get_num_rows(bid)
    descr = BoardShim.get_board_descr(bid)
    if "eeg_names" in descr:
        assert list(info.eeg_names) == BoardShim.get_eeg_names(bid)
    else:
        assert info.eeg_names == tuple(f"EEG{i + 1}" for i in range(len(info.eeg_rows)))
    assert list(info.accel_rows) == descr.get("accel_channels", [])
    assert list(info.emg_rows) == descr.get("emg_channels", [])
    assert list(info.eog_rows) == descr.get("eog_channels", [])


def test_known_layouts_from_brainflow():
    cyton = board_info("cyton")
    assert cyton.sfreq == 250 and cyton.eeg_names[:2] == ("Fp1", "Fp2") and len(cyton.eeg_rows) == 8
    assert board_info("cyton-daisy").sfreq == 125 and len(board_info("cyton-daisy").eeg_rows) == 16
    muse = board_info("muse-s")
    assert muse.sfreq == 256 and muse.eeg_names == ("TP9", "AF7", "AF8", "TP10")
    assert cyton.needs_serial_port and not board_info("synthetic").needs_serial_port


def test_playback_takes_the_master_boards_description():
    info = board_info("playback", master_board="cyton")
    cyton = board_info("cyton")
    assert info.is_playback and info.name == "playback"
    assert info.board_id == cyton.board_id
    assert (info.sfreq, info.eeg_rows, info.eeg_names, info.n_rows) == (
        cyton.sfreq, cyton.eeg_rows, cyton.eeg_names, cyton.n_rows
    )
    with pytest.raises(ValueError, match="--master-board"):
        board_info("playback")
    with pytest.raises(ValueError, match="cannot be 'playback'"):
        board_info("playback", master_board="playback")


def test_list_boards_covers_the_registry():
    infos = list_boards()
    assert [i.name for i in infos] == [n for n in BOARD_NAMES if n != "playback"]
    assert all(i.sfreq > 0 and i.eeg_rows for i in infos)


def test_row_names():
    info = board_info("synthetic")
    assert info.row_name(info.eeg_rows[0]) == "Fz"
    assert [info.row_name(r) for r in info.accel_rows] == ["accel_x", "accel_y", "accel_z"]
    assert info.row_name(info.marker_row) == f"row{info.marker_row}"


def test_boards_command_prints_the_table(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in BOARD_NAMES:
        assert name in out
    rows = {r["board"]: r for r in boards_table()}
    assert rows["cyton"]["rate"] == "250 Hz" and rows["cyton"]["eeg"].startswith("Fp1,Fp2,C3")
    assert rows["muse-s"]["frontal"] == "AF7,AF8"
    assert rows["synthetic"]["accel"] == "yes" and rows["muse-s"]["accel"] == "aux 52 Hz"
    assert "Fp1,Fp2,C3,C4,P7,P8,O1,O2" in out
